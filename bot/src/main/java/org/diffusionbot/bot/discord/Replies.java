package org.diffusionbot.bot.discord;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import net.dv8tion.jda.api.entities.Message;
import net.dv8tion.jda.api.entities.channel.attribute.IAgeRestrictedChannel;
import net.dv8tion.jda.api.interactions.Interaction;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.interactions.callbacks.IReplyCallback;
import net.dv8tion.jda.api.requests.RestAction;
import org.diffusionbot.bot.service.Failures;
import org.diffusionbot.bot.service.Origin;
import org.diffusionbot.common.Text;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one helper for answering interactions: deferring at once on JDA's thread and answering from the bot's
 * executor, ephemeral answers (split to Discord's length limit), refusals only the user sees. Mentions are shown,
 * never pinged.
 */
final class Replies {
    private static final Logger LOG = LoggerFactory.getLogger(Replies.class);
    /** Discord interaction tokens are valid for 15 minutes. */
    static final Duration TOKEN_LIFETIME = Duration.ofMinutes(15);
    /** Discord's limit on a message's content, in characters (code points, as Discord and JDA count them). */
    static final int MAX_CONTENT = 2000;
    /** Mentions in our messages are shown, never pinged. */
    static final EnumSet<Message.MentionType> NO_MENTIONS = EnumSet.noneOf(Message.MentionType.class);

    private Replies() {
    }

    /** Work that answers through the hook itself, or returns the answer (null: it answered itself). */
    interface HookWork {
        String run(InteractionHook hook);
    }

    /**
     * Defers ephemerally at once, then computes the answer on {@code executor} (it may read the database) and shows
     * it; a long answer is split into several messages; a failure of ours is answered by {@link Failures}.
     */
    static void ephemeral(IReplyCallback event, String what, Executor executor, Supplier<String> text) {
        ephemeral(event, what, executor, hook -> text.get());
    }

    static void ephemeral(IReplyCallback event, String what, Executor executor, HookWork work) {
        event.deferReply(true).queue();
        InteractionHook hook = event.getHook();
        executor.execute(() -> {
            String answer;
            try {
                answer = work.run(hook);
            } catch (RuntimeException e) {
                answer = "❌ " + Failures.forUser(what, e, false);
            }
            if (answer == null) {
                return;
            }
            List<String> parts = split(answer);
            hook.editOriginal(parts.get(0)).setAllowedMentions(NO_MENTIONS).queue();
            for (String part : parts.subList(1, parts.size())) {
                hook.sendMessage(part).setEphemeral(true).setAllowedMentions(NO_MENTIONS).queue();
            }
        });
    }

    /** An immediate ephemeral error (bad input, checked without I/O). */
    static void error(IReplyCallback event, String message) {
        event.reply("❌ " + message).setEphemeral(true).setAllowedMentions(NO_MENTIONS).queue();
    }

    /**
     * Runs {@code work} on {@code executor} once Discord acknowledged the deferral. Submitting only then means the
     * original response exists before any progress or result edits it (an edit that overtook the deferral would find
     * no message), and an interaction that expired before it was acknowledged charges nothing.
     */
    static void afterDefer(RestAction<?> defer, Executor executor, Runnable work) {
        defer.queue(ok -> executor.execute(work),
                err -> LOG.warn("interaction not acknowledged ({}); nothing was submitted", err.getMessage()));
    }

    /** The deferred reply is public; a refusal is for the user's eyes only (the placeholder is deleted). */
    static void refuse(InteractionHook hook, String message) {
        hook.deleteOriginal().queue(ok -> { }, err -> { });
        hook.sendMessage("❌ " + message).setEphemeral(true).setAllowedMentions(NO_MENTIONS).queue();
    }

    /**
     * Where the interaction came from, for the job's progress and outcome, with whether its channel is
     * age-restricted: the channel object Discord sends in the interaction carries its {@code nsfw} field, which JDA
     * reads into {@link IAgeRestrictedChannel#isNSFW()} (text, voice, stage, forum and media channels). Threads and
     * direct messages have no such flag and count as not age-restricted, so their images are checked.
     */
    static Origin origin(Interaction event) {
        boolean ageRestricted = event.getChannel() instanceof IAgeRestrictedChannel c && c.isNSFW();
        return new Origin(event.getChannelIdLong(), event.getJDA().getSelfUser().getApplicationIdLong(),
                event.getToken(), event.getTimeCreated().toInstant().plus(TOKEN_LIFETIME), ageRestricted);
    }

    /** Splits a long answer at line ends into messages Discord accepts (lengths in code points, as Discord's). */
    static List<String> split(String text) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        int curLength = 0;
        for (String line : text.split("\n", -1)) {
            String l = Text.shorten(line, MAX_CONTENT);
            int length = l.codePointCount(0, l.length());
            if (cur.length() > 0 && curLength + 1 + length > MAX_CONTENT) {
                out.add(cur.toString());
                cur.setLength(0);
                curLength = 0;
            }
            if (cur.length() > 0) {
                cur.append('\n');
                curLength++;
            }
            cur.append(l);
            curLength += length;
        }
        out.add(cur.toString());
        return out;
    }
}
