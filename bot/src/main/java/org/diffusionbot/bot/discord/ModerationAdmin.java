package org.diffusionbot.bot.discord;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.interactions.commands.OptionMapping;
import net.dv8tion.jda.api.interactions.commands.OptionType;
import net.dv8tion.jda.api.interactions.commands.build.OptionData;
import net.dv8tion.jda.api.interactions.commands.build.SubcommandData;
import net.dv8tion.jda.api.interactions.commands.build.SubcommandGroupData;
import org.diffusionbot.bot.moderation.BlockedTerm;
import org.diffusionbot.bot.service.Caller;
import org.diffusionbot.bot.service.ModerationService;
import org.diffusionbot.db.ModerationStore;

/**
 * {@code /admin moderation …}: a server's blocked terms, the shipped default list, what a flagged image becomes,
 * whether {@code /imagine} needs an age-restricted channel while no worker checks images, the flagged images and the
 * audit log (docs/MODERATION.md). {@link AdminCommand} has checked the caller is an admin of the server; every
 * change is audited by the service. Answers are ephemeral.
 */
final class ModerationAdmin {
    static final String GROUP = "moderation";
    static final String BLOCK = "block";
    static final String UNBLOCK = "unblock";
    static final String LIST = "list";
    static final String DEFAULTS = "defaults";
    static final String FLAGGED_ACTION = "flagged-action";
    static final String REQUIRE_AGE_RESTRICTED = "require-age-restricted";
    static final String FLAGGED = "flagged";
    static final String AUDIT = "audit";

    private final ModerationService moderation;
    private final String defaultModel;
    private final Executor executor;

    ModerationAdmin(ModerationService moderation, String defaultModel, Executor executor) {
        this.moderation = moderation;
        this.defaultModel = defaultModel;
        this.executor = executor;
    }

    /** The subcommand group, as registered ({@link Commands}). */
    static SubcommandGroupData group() {
        return new SubcommandGroupData(GROUP, "Blocked prompts, flagged images, age-restricted channels").addSubcommands(
                new SubcommandData(BLOCK, "Block a word (word* and *word: prefix, suffix) or a /regular expression/")
                        .addOptions(new OptionData(OptionType.STRING, "term", "A word or phrase, or /pattern/ (RE2)",
                                true).setMaxLength(BlockedTerm.MAX_LENGTH + 2)),
                new SubcommandData(UNBLOCK, "Remove a blocked word or /pattern/, written as it was blocked")
                        .addOptions(new OptionData(OptionType.STRING, "term", "The word or /pattern/", true)
                                .setMaxLength(BlockedTerm.MAX_LENGTH + 2)),
                new SubcommandData(LIST, "This server's moderation settings and blocked terms"),
                new SubcommandData(DEFAULTS, "Turn the bot's default list of blocked terms on or off")
                        .addOption(OptionType.BOOLEAN, "enabled", "Block the default list's terms too", true),
                new SubcommandData(FLAGGED_ACTION, "What an image the safety check flags becomes")
                        .addOptions(new OptionData(OptionType.STRING, "action", "withhold or spoiler", true)
                                .addChoice("withhold (not shown)", "withhold")
                                .addChoice("spoiler (shown blurred)", "spoiler")),
                new SubcommandData(REQUIRE_AGE_RESTRICTED,
                        "Allow /imagine only in age-restricted channels while no worker checks images")
                        .addOption(OptionType.BOOLEAN, "enabled", "Require age-restricted channels then", true),
                new SubcommandData(FLAGGED, "The latest images the safety check flagged"),
                new SubcommandData(AUDIT, "The latest moderation actions and refused prompts"));
    }

    void handle(SlashCommandInteractionEvent event, Caller caller) {
        long guild = caller.guildId();
        long admin = caller.userId();
        String sub = event.getSubcommandName() == null ? "" : event.getSubcommandName();
        switch (sub) {
            case BLOCK -> {
                BlockedTerm term;
                try {
                    term = BlockedTerm.parse(string(event, "term"));
                } catch (IllegalArgumentException e) {
                    Replies.error(event, JobMessages.escape(e.getMessage()));
                    return;
                }
                answer(event, () -> switch (moderation.block(guild, admin, term)) {
                    case ADDED -> "✅ Blocked " + term(term.display()) + ": prompts containing it are refused"
                            + " (nothing is charged for them).";
                    case ALREADY_THERE -> term(term.display()) + " was already blocked.";
                    case FULL -> "❌ This server has " + ModerationStore.MAX_TERMS + " blocked terms, the most it may"
                            + " have; unblock one first (a /pattern/ can cover several words).";
                });
            }
            case UNBLOCK -> {
                String typed = string(event, "term");
                answer(event, () -> moderation.unblock(guild, admin, typed)
                        ? "✅ Unblocked " + term(typed.strip()) + "."
                        : term(typed.strip()) + " is not blocked here (write it as `/admin moderation list` shows it).");
            }
            case LIST -> answer(event, () -> settings(moderation.settings(guild),
                    moderation.checksImages(defaultModel), defaultModel));
            case DEFAULTS -> {
                boolean on = bool(event, "enabled");
                answer(event, () -> {
                    moderation.change(guild, admin, new ModerationStore.SettingsChange(on, null, null));
                    return on ? "✅ The default list of blocked terms (" + BlockedTerm.defaults().size()
                            + " terms: sexual content) applies here too now."
                            : "✅ The default list of blocked terms no longer applies here.";
                });
            }
            case FLAGGED_ACTION -> {
                ModerationStore.FlaggedAction action;
                try {
                    action = ModerationStore.FlaggedAction.valueOf(string(event, "action").toUpperCase(Locale.ROOT));
                } catch (IllegalArgumentException e) {
                    Replies.error(event, "action must be withhold or spoiler");
                    return;
                }
                answer(event, () -> {
                    moderation.change(guild, admin, new ModerationStore.SettingsChange(null, action, null));
                    return "✅ Images the safety check flags " + flaggedAction(action) + ".";
                });
            }
            case REQUIRE_AGE_RESTRICTED -> {
                boolean on = bool(event, "enabled");
                answer(event, () -> {
                    moderation.change(guild, admin, new ModerationStore.SettingsChange(null, null, on));
                    return on ? "✅ While the workers of a model do not all check images, /imagine for it is refused"
                            + " outside age-restricted channels."
                            : "✅ /imagine works in every channel again (images outside age-restricted channels are"
                                    + " still checked where a worker runs the check).";
                });
            }
            case FLAGGED -> answer(event, () -> flagged(moderation.flagged(guild)));
            case AUDIT -> answer(event, () -> audit(moderation.audit(guild)));
            default -> event.reply("Unknown subcommand.").setEphemeral(true).queue();
        }
    }

    /** {@code /admin moderation list}. */
    static String settings(ModerationStore.Settings s, boolean defaultModelChecked, String defaultModel) {
        StringBuilder sb = new StringBuilder("**Moderation of this server**");
        sb.append("\n• default list of blocked terms: ").append(s.defaultTerms() ? "on" : "off").append(" (")
                .append(BlockedTerm.defaults().size()).append(" terms)");
        sb.append("\n• images the safety check flags ").append(flaggedAction(s.flaggedAction()));
        sb.append("\n• age-restricted channels required while images are not checked: ")
                .append(s.requireAgeRestricted() ? "yes" : "no");
        sb.append("\n• the workers of the default model `").append(JobMessages.code(defaultModel)).append("` ")
                .append(defaultModelChecked ? "all check images" : "do not all check images right now");
        if (s.terms().isEmpty()) {
            sb.append("\n\nNo blocked terms of its own (`/admin moderation block`).");
        } else {
            sb.append("\n\n**Blocked terms** (").append(s.terms().size()).append(")");
            for (ModerationStore.Term t : s.terms()) {
                sb.append("\n• ").append(term(t.kind().equals("regex") ? "/" + t.term() + "/" : t.term()));
            }
        }
        return sb.toString();
    }

    /** {@code /admin moderation flagged}. */
    static String flagged(List<ModerationStore.Flagged> flagged) {
        if (flagged.isEmpty()) {
            return "No image has been flagged in this server.";
        }
        StringBuilder sb = new StringBuilder("**Images the safety check flagged** (latest ").append(flagged.size())
                .append(")");
        for (ModerationStore.Flagged f : flagged) {
            sb.append("\n• <t:").append(f.at().getEpochSecond()).append(":f> <@").append(f.userId()).append("> job `")
                    .append(f.jobId()).append("` image ").append(f.imageIndex() + 1).append(", score ")
                    .append(String.format(Locale.ROOT, "%.3f", f.score())).append(", ")
                    .append(f.action() == ModerationStore.FlaggedAction.SPOILER ? "shown as a spoiler" : "withheld")
                    .append(": ").append(JobMessages.escape(JobMessages.shorten(f.prompt(), 100)));
        }
        return sb.toString();
    }

    /** {@code /admin moderation audit}. */
    static String audit(List<ModerationStore.AuditEntry> entries) {
        if (entries.isEmpty()) {
            return "The moderation audit log of this server is empty.";
        }
        StringBuilder sb = new StringBuilder("**Moderation audit log** (latest ").append(entries.size()).append(")");
        for (ModerationStore.AuditEntry e : entries) {
            sb.append("\n• <t:").append(e.at().getEpochSecond()).append(":f> <@").append(e.actorId()).append("> ")
                    .append(e.action()).append(": ").append(JobMessages.escape(JobMessages.shorten(e.detail(), 150)));
        }
        return sb.toString();
    }

    private static String flaggedAction(ModerationStore.FlaggedAction a) {
        return a == ModerationStore.FlaggedAction.SPOILER ? "are shown as spoilers (blurred until clicked)"
                : "are withheld (not shown)";
    }

    /** A term in a code span (a backtick in it cannot end the span). */
    private static String term(String display) {
        return "`" + JobMessages.code(JobMessages.shorten(display, BlockedTerm.MAX_LENGTH + 2)) + "`";
    }

    private static String string(SlashCommandInteractionEvent event, String name) {
        OptionMapping o = event.getOption(name);
        return o == null ? "" : o.getAsString();
    }

    private static boolean bool(SlashCommandInteractionEvent event, String name) {
        OptionMapping o = event.getOption(name);
        return o != null && o.getAsBoolean();
    }

    private void answer(SlashCommandInteractionEvent event, Supplier<String> text) {
        Replies.ephemeral(event, "/admin moderation " + event.getSubcommandName(), executor, text);
    }
}
