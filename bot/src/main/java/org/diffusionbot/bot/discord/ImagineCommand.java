package org.diffusionbot.bot.discord;

import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.command.CommandAutoCompleteInteractionEvent;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.interactions.commands.Command;
import net.dv8tion.jda.api.interactions.commands.OptionMapping;
import org.diffusionbot.bot.service.Caller;
import org.diffusionbot.bot.service.Failures;
import org.diffusionbot.bot.service.ImagineOptions;
import org.diffusionbot.bot.service.LoraService;
import org.diffusionbot.bot.service.Origin;
import org.diffusionbot.bot.service.SubmitService;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.messages.JobRequest;

/**
 * {@code /imagine}: options checked at once against the bot's defaults (a bad value: an ephemeral error, nothing
 * deferred); then deferred, and once Discord acknowledged the deferral the member's defaults are read, the request
 * built and submitted on the executor. Also {@code model:} autocomplete from the models live workers announce (with
 * their family).
 */
final class ImagineCommand implements SlashCommand {
    private final SubmitService submit;
    private final Submitter submitter;
    private final WorkerRegistry workers;
    private final Set<Long> adminRoleIds;
    private final Executor executor;
    private final Clock clock;

    ImagineCommand(SubmitService submit, Submitter submitter, WorkerRegistry workers, Set<Long> adminRoleIds,
            Executor executor, Clock clock) {
        this.clock = clock;
        this.submit = submit;
        this.submitter = submitter;
        this.workers = workers;
        this.adminRoleIds = adminRoleIds;
        this.executor = executor;
    }

    @Override
    public String name() {
        return Commands.IMAGINE;
    }

    @Override
    public void handle(SlashCommandInteractionEvent event) {
        Instant now = clock.instant();
        ImagineOptions.Options options = options(event);
        try {
            submit.check(options, now); // the bot's defaults: a bad value is refused before anything is deferred
        } catch (LoraService.Refused e) {
            Replies.error(event, e.getMessage()); // names already in code spans
            return;
        } catch (IllegalArgumentException e) {
            Replies.error(event, JobMessages.escape(e.getMessage()));
            return;
        }
        Caller caller = Callers.of(event, adminRoleIds);
        InteractionHook hook = event.getHook();
        Origin origin = Replies.origin(event);
        submitter.afterDefer(event.deferReply(), () -> {
            SubmitService.Prepared prepared;
            JobRequest request;
            try {
                prepared = submit.prepare(caller);
                request = submit.imagineRequest(options, prepared, now);
            } catch (IllegalArgumentException e) {
                // the user's saved defaults together with these options are out of bounds
                Replies.refuse(hook, JobMessages.escape(e.getMessage()) + " (with your `/settings` defaults)");
                return;
            } catch (RuntimeException e) {
                Replies.refuse(hook, Failures.forUser("reading the defaults of user " + caller.userId(), e, true));
                return;
            }
            submitter.submit(hook, SubmitService.newJob(request, caller, origin, "imagine", null), prepared);
        });
    }

    /** {@code /imagine model:} suggests the models that live workers announce (in memory: answered at once). */
    void autocomplete(CommandAutoCompleteInteractionEvent event) {
        if (!event.getName().equals(Commands.IMAGINE) || !event.getFocusedOption().getName().equals("model")) {
            event.replyChoices(List.of()).queue();
            return;
        }
        String typed = event.getFocusedOption().getValue().trim().toLowerCase(Locale.ROOT);
        List<Command.Choice> choices = workers.models().stream()
                .filter(m -> m.name().toLowerCase(Locale.ROOT).contains(typed))
                .sorted((a, b) -> Boolean.compare(!a.name().toLowerCase(Locale.ROOT).startsWith(typed),
                        !b.name().toLowerCase(Locale.ROOT).startsWith(typed)))
                .limit(25).map(m -> new Command.Choice(choiceName(m), m.name())).toList();
        event.replyChoices(choices).queue();
    }

    /** What the list shows: the name and, once a heartbeat described it, the family (Discord allows 100 characters). */
    static String choiceName(WorkerRegistry.ModelInfo m) {
        String family = m.spec() == null ? "" : " — " + m.spec().family().label();
        return org.diffusionbot.common.Text.shorten(m.name(), 100 - family.length()) + family;
    }

    private static ImagineOptions.Options options(SlashCommandInteractionEvent e) {
        return new ImagineOptions.Options() {
            @Override
            public String string(String name) {
                OptionMapping o = e.getOption(name);
                return o == null ? null : o.getAsString();
            }

            @Override
            public Long integer(String name) {
                OptionMapping o = e.getOption(name);
                try {
                    return o == null ? null : o.getAsLong();
                } catch (IllegalStateException | NumberFormatException ex) {
                    throw new IllegalArgumentException(name + " must be a whole number");
                }
            }

            @Override
            public Double number(String name) {
                OptionMapping o = e.getOption(name);
                try {
                    return o == null ? null : o.getAsDouble();
                } catch (IllegalStateException | NumberFormatException ex) {
                    throw new IllegalArgumentException(name + " must be a number");
                }
            }
        };
    }
}
