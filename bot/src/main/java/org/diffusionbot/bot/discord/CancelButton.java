package org.diffusionbot.bot.discord;

import java.util.Set;
import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;
import org.diffusionbot.bot.service.CancelService;

/** The Cancel button under a queued or running job: as {@code /cancel job:}, answered ephemerally. */
final class CancelButton implements ButtonFamily {
    private final CancelService cancel;
    private final Executor executor;

    CancelButton(CancelService cancel, Executor executor) {
        this.cancel = cancel;
        this.executor = executor;
    }

    @Override
    public Set<String> actions() {
        return Set.of(ButtonIds.CANCEL);
    }

    @Override
    public void handle(ButtonInteractionEvent event, ButtonIds.Parsed button) {
        long user = event.getUser().getIdLong();
        Replies.ephemeral(event, "button " + event.getComponentId(), executor,
                () -> JobMessages.cancelled(cancel.cancel(user, button.jobId().toString())));
    }
}
