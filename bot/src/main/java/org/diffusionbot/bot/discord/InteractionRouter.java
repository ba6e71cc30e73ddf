package org.diffusionbot.bot.discord;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.command.CommandAutoCompleteInteractionEvent;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;
import net.dv8tion.jda.api.hooks.ListenerAdapter;
import org.diffusionbot.bot.jobs.ProgressThrottle;
import org.diffusionbot.bot.service.Services;

/**
 * JDA's listener: routes each slash command to its {@link SlashCommand} by name, each button press to its
 * {@link ButtonFamily} by the action in its custom id, and {@code /imagine model:} autocomplete to
 * {@link ImagineCommand}. Ids that are not ours are ignored.
 */
public final class InteractionRouter extends ListenerAdapter {
    private final Map<String, SlashCommand> commands = new HashMap<>();
    private final Map<String, ButtonFamily> buttons = new HashMap<>();
    private final ImagineCommand imagine;

    /** Every command and button of the bot over {@code services}; database and broker work runs on {@code executor}. */
    public static InteractionRouter create(Services services, java.util.Set<Long> adminRoleIds, String defaultModel,
            ProgressThrottle throttle, Executor executor, java.time.Clock clock,
            org.diffusionbot.bot.metrics.BotMetrics metrics) {
        Submitter submitter = new Submitter(services.submit(), throttle, executor, metrics);
        return new InteractionRouter(
                new ImagineCommand(services.submit(), submitter, services.workers(), adminRoleIds, executor, clock),
                List.of(new JobsCommand(services.views(), executor),
                        new QuotaCommand(services.quotas(), adminRoleIds, executor),
                        new CancelCommand(services.cancel(), executor),
                        new ModelsCommand(services.fleet(), services.admin(), defaultModel, executor),
                        new SettingsCommand(services.userSettings(), executor),
                        new LorasCommand(services.loras(), executor),
                        new AdminCommand(services.admin(), services.workers(), services.fleet(), adminRoleIds, executor,
                                new ModerationAdmin(services.moderation(), defaultModel, executor))),
                List.of(new CancelButton(services.cancel(), executor),
                        new NewJobButtons(services.derived(), services.submit(), submitter, adminRoleIds, executor),
                        new InfoButton(services.views(), executor),
                        new DeleteButton(services.views(), adminRoleIds, executor, clock)));
    }

    InteractionRouter(ImagineCommand imagine, List<SlashCommand> commands, List<ButtonFamily> buttons) {
        this.imagine = imagine;
        this.commands.put(imagine.name(), imagine);
        for (SlashCommand c : commands) {
            if (this.commands.put(c.name(), c) != null) {
                throw new IllegalArgumentException("two handlers for /" + c.name());
            }
        }
        for (ButtonFamily b : buttons) {
            for (String action : b.actions()) {
                if (this.buttons.put(action, b) != null) {
                    throw new IllegalArgumentException("two handlers for button " + action);
                }
            }
        }
    }

    @Override
    public void onSlashCommandInteraction(SlashCommandInteractionEvent event) {
        SlashCommand c = commands.get(event.getName());
        if (c == null) {
            event.reply("Unknown command.").setEphemeral(true).queue();
            return;
        }
        c.handle(event);
    }

    @Override
    public void onCommandAutoCompleteInteraction(CommandAutoCompleteInteractionEvent event) {
        imagine.autocomplete(event);
    }

    @Override
    public void onButtonInteraction(ButtonInteractionEvent event) {
        Optional<ButtonIds.Parsed> parsed = ButtonIds.parse(event.getComponentId());
        if (parsed.isEmpty()) {
            return;
        }
        ButtonFamily b = buttons.get(parsed.get().action());
        if (b != null) {
            b.handle(event, parsed.get());
        }
    }
}
