package org.diffusionbot.bot.discord;

import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import org.diffusionbot.bot.service.AdminService;
import org.diffusionbot.bot.service.FleetStatus;

/**
 * {@code /models}: the models live workers announce, each with its family, queue and ETA, and whether the bot is
 * paused.
 */
final class ModelsCommand implements SlashCommand {
    private final FleetStatus workers;
    private final AdminService admin;
    private final String defaultModel;
    private final Executor executor;

    ModelsCommand(FleetStatus workers, AdminService admin, String defaultModel, Executor executor) {
        this.workers = workers;
        this.admin = admin;
        this.defaultModel = defaultModel;
        this.executor = executor;
    }

    @Override
    public String name() {
        return Commands.MODELS;
    }

    @Override
    public void handle(SlashCommandInteractionEvent event) {
        Replies.ephemeral(event, "/models", executor,
                () -> JobMessages.models(workers.models(), defaultModel, admin.paused()));
    }
}
