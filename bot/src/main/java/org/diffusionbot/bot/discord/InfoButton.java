package org.diffusionbot.bot.discord;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.utils.FileUpload;
import net.dv8tion.jda.api.utils.messages.MessageEditBuilder;
import org.diffusionbot.bot.service.ImagineLine;
import org.diffusionbot.bot.service.JobViews;

/**
 * ℹ️ Info: every parameter of the job and an {@code /imagine} line that reproduces it, ephemeral; a line too long for
 * one message is attached as a file.
 */
final class InfoButton implements ButtonFamily {
    private final JobViews views;
    private final Executor executor;

    InfoButton(JobViews views, Executor executor) {
        this.views = views;
        this.executor = executor;
    }

    @Override
    public Set<String> actions() {
        return Set.of(ButtonIds.INFO);
    }

    @Override
    public void handle(ButtonInteractionEvent event, ButtonIds.Parsed b) {
        Replies.ephemeral(event, "button " + event.getComponentId(), executor, hook -> info(hook, b.jobId()));
    }

    private String info(InteractionHook hook, UUID jobId) {
        Optional<JobViews.Info> info = views.info(jobId);
        if (info.isEmpty()) {
            return "❌ That job is gone.";
        }
        String text = JobMessages.info(info.get().job(), info.get().seeds(), info.get().guidanceRescale());
        String line = ImagineLine.of(info.get().job(), info.get().guidanceRescale());
        String block = "\n```\n" + JobMessages.code(line) + "\n```";
        if (text.length() + block.length() <= Replies.MAX_CONTENT) {
            return text + block;
        }
        hook.editOriginal(new MessageEditBuilder().setContent(JobMessages.shorten(text, Replies.MAX_CONTENT - 40)
                        + " (attached)")
                .setAllowedMentions(Replies.NO_MENTIONS)
                .setFiles(FileUpload.fromData(line.getBytes(StandardCharsets.UTF_8), "imagine.txt"))
                .build()).queue();
        return null;
    }
}
