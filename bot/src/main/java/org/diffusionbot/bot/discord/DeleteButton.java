package org.diffusionbot.bot.discord;

import java.util.Set;
import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;
import net.dv8tion.jda.api.interactions.InteractionHook;
import org.diffusionbot.bot.service.Caller;
import org.diffusionbot.bot.service.JobViews;
import org.diffusionbot.db.JobRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** 🗑️ Delete: for the author or an admin; the images leave the gallery and the message goes. */
final class DeleteButton implements ButtonFamily {
    private static final Logger LOG = LoggerFactory.getLogger(DeleteButton.class);

    private final JobViews views;
    private final Set<Long> adminRoleIds;
    private final Executor executor;
    private final java.time.Clock clock;

    DeleteButton(JobViews views, Set<Long> adminRoleIds, Executor executor, java.time.Clock clock) {
        this.clock = clock;
        this.views = views;
        this.adminRoleIds = adminRoleIds;
        this.executor = executor;
    }

    @Override
    public Set<String> actions() {
        return Set.of(ButtonIds.DELETE);
    }

    @Override
    public void handle(ButtonInteractionEvent event, ButtonIds.Parsed b) {
        Caller caller = Callers.of(event, adminRoleIds);
        Replies.ephemeral(event, "button " + event.getComponentId(), executor, () -> {
            JobViews.Deletion d = views.delete(caller, b.jobId());
            if (d instanceof JobViews.Deletion.Gone) {
                return "❌ That job is gone.";
            }
            if (d instanceof JobViews.Deletion.NotAllowed) {
                return "❌ Only the author of these images or an admin can delete them.";
            }
            deleteMessage(event, clock, ((JobViews.Deletion.Deleted) d).job());
            return "🗑️ Deleted.";
        });
    }

    /** The channel route: JDA's Message#delete on an interaction message would use the press's own token. */
    private static void deleteMessage(ButtonInteractionEvent event, java.time.Clock clock, JobRecord j) {
        event.getMessageChannel().deleteMessageById(event.getMessageIdLong()).queue(ok -> { }, err -> {
            if (j.interactionToken() != null && j.tokenExpiresAt() != null
                    && clock.instant().isBefore(j.tokenExpiresAt())
                    && event.getMessageIdLong() != 0) {
                InteractionHook.from(event.getJDA(), j.interactionToken()).deleteOriginal().queue(ok -> { },
                        err2 -> LOG.warn("deleting the message of job {} failed: {}", j.id(), err2.getMessage()));
            } else {
                LOG.warn("deleting the message of job {} failed: {}", j.id(), err.getMessage());
            }
        });
    }
}
