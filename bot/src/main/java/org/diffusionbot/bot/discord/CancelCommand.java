package org.diffusionbot.bot.discord;

import java.util.Optional;
import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.interactions.commands.OptionMapping;
import org.diffusionbot.bot.service.CancelService;

/** {@code /cancel [job]}: cancels the named job of the user, or their latest queued or running one. */
final class CancelCommand implements SlashCommand {
    private final CancelService cancel;
    private final Executor executor;

    CancelCommand(CancelService cancel, Executor executor) {
        this.cancel = cancel;
        this.executor = executor;
    }

    @Override
    public String name() {
        return Commands.CANCEL;
    }

    @Override
    public void handle(SlashCommandInteractionEvent event) {
        long user = event.getUser().getIdLong();
        String job = Optional.ofNullable(event.getOption("job")).map(OptionMapping::getAsString).orElse(null);
        Replies.ephemeral(event, "/cancel", executor, () -> JobMessages.cancelled(cancel.cancel(user, job)));
    }
}
