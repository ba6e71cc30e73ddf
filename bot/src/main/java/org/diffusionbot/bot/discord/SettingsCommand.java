package org.diffusionbot.bot.discord;

import java.util.Optional;
import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.interactions.commands.OptionMapping;
import org.diffusionbot.bot.service.UserSettingsService;

/** {@code /settings}: checks the options now; shows, or changes and shows, the user's defaults on the executor. */
final class SettingsCommand implements SlashCommand {
    private final UserSettingsService settings;
    private final Executor executor;

    SettingsCommand(UserSettingsService settings, Executor executor) {
        this.settings = settings;
        this.executor = executor;
    }

    @Override
    public String name() {
        return Commands.SETTINGS;
    }

    @Override
    public void handle(SlashCommandInteractionEvent event) {
        UserSettingsService.Change change;
        try {
            change = UserSettingsService.Change.of(
                    option(event, "sampler").map(OptionMapping::getAsString).orElse(null),
                    option(event, "steps").map(OptionMapping::getAsLong).orElse(null),
                    option(event, "cfg").map(OptionMapping::getAsDouble).orElse(null),
                    option(event, "size").map(OptionMapping::getAsString).orElse(null),
                    option(event, "negative").map(OptionMapping::getAsString).orElse(null),
                    option(event, "gallery").map(OptionMapping::getAsBoolean).orElse(null),
                    option(event, "reset").map(OptionMapping::getAsBoolean).orElse(false),
                    option(event, "schedule").map(OptionMapping::getAsString).orElse(null),
                    option(event, "guidance_rescale").map(OptionMapping::getAsDouble).orElse(null),
                    option(event, "clip_skip").map(OptionMapping::getAsLong).orElse(null));
        } catch (IllegalArgumentException | IllegalStateException e) {
            Replies.error(event, JobMessages.escape(e.getMessage()));
            return;
        }
        boolean changes = change.reset() || !event.getOptions().isEmpty();
        long userId = event.getUser().getIdLong();
        String userName = event.getUser().getName();
        Replies.ephemeral(event, "/settings", executor, () -> changes
                ? JobMessages.settings(settings.apply(userId, userName, change), true)
                : JobMessages.settings(settings.show(userId), false));
    }

    private static Optional<OptionMapping> option(SlashCommandInteractionEvent event, String name) {
        return Optional.ofNullable(event.getOption(name));
    }
}
