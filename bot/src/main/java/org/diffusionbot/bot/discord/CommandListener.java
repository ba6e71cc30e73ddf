package org.diffusionbot.bot.discord;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import net.dv8tion.jda.api.entities.Message;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;
import net.dv8tion.jda.api.hooks.ListenerAdapter;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.interactions.commands.OptionMapping;
import net.dv8tion.jda.api.utils.messages.MessageEditBuilder;
import org.diffusionbot.bot.jobs.JobService;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.db.DatabaseUnavailableException;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobStore;
import org.diffusionbot.db.NewJob;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Handles slash commands and buttons. Input is validated synchronously (no I/O) so a bad value
 * gets an ephemeral error at once; valid requests are deferred immediately and the database and
 * broker work happens on the bot's executor, never on JDA's event thread.
 */
public final class CommandListener extends ListenerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(CommandListener.class);
    /** Discord interaction tokens are valid for 15 minutes. */
    static final Duration TOKEN_LIFETIME = Duration.ofMinutes(15);

    private final JobService jobs;
    private final JobStore store;
    private final String defaultModel;
    private final int previewEvery;
    private final ExecutorService executor;
    private final Clock clock;
    private final SecureRandom random = new SecureRandom();

    public CommandListener(JobService jobs, JobStore store, String defaultModel, int previewEvery,
            ExecutorService executor, Clock clock) {
        this.jobs = jobs;
        this.store = store;
        this.defaultModel = defaultModel;
        this.previewEvery = previewEvery;
        this.executor = executor;
        this.clock = clock;
    }

    @Override
    public void onSlashCommandInteraction(SlashCommandInteractionEvent event) {
        switch (event.getName()) {
            case Commands.IMAGINE -> imagine(event);
            case Commands.QUOTA -> ephemeral(event, () -> JobMessages.quota(store.quota(event.getUser().getIdLong(),
                    jobs.policy())));
            case Commands.JOBS -> ephemeral(event, () -> JobMessages.jobs(store.recentJobs(event.getUser().getIdLong(), 10)));
            case Commands.CANCEL -> ephemeral(event, () -> cancel(event.getUser().getIdLong(),
                    Optional.ofNullable(event.getOption("job")).map(OptionMapping::getAsString).orElse(null)));
            default -> event.reply("Unknown command.").setEphemeral(true).queue();
        }
    }

    @Override
    public void onButtonInteraction(ButtonInteractionEvent event) {
        Optional<UUID> job = ButtonIds.jobOf(ButtonIds.CANCEL, event.getComponentId());
        if (job.isEmpty()) {
            return;
        }
        event.deferReply(true).queue();
        long user = event.getUser().getIdLong();
        executor.execute(() -> event.getHook().editOriginal(cancel(user, job.get().toString())).queue());
    }

    private void imagine(SlashCommandInteractionEvent event) {
        Instant now = clock.instant();
        JobRequest request;
        try {
            request = ImagineOptions.toRequest(options(event), defaultModel, previewEvery, random::nextLong, now);
        } catch (IllegalArgumentException e) {
            event.reply("❌ " + JobMessages.escape(e.getMessage())).setEphemeral(true).queue();
            return;
        }
        event.deferReply().queue();
        InteractionHook hook = event.getHook();
        NewJob job = new NewJob(request, event.getUser().getIdLong(), event.getUser().getName(),
                event.getGuild() == null ? null : event.getGuild().getIdLong(), event.getChannelIdLong(), "imagine",
                null, event.getJDA().getSelfUser().getApplicationIdLong(), event.getToken(),
                event.getTimeCreated().toInstant().plus(TOKEN_LIFETIME));
        executor.execute(() -> {
            JobService.Outcome outcome;
            try {
                outcome = jobs.submit(job);
            } catch (RuntimeException e) {
                LOG.error("submitting job {} failed", request.jobId(), e);
                outcome = new JobService.Outcome.Refused("something went wrong on our side; nothing was charged.");
            }
            if (outcome instanceof JobService.Outcome.Queued q) {
                hook.editOriginal(new MessageEditBuilder()
                        .setContent(q.delayed() ? JobMessages.queuedDelayed(request.prompt(), q.quota())
                                : JobMessages.queued(request.prompt(), q.position(), q.quota()))
                        .setAllowedMentions(EnumSet.noneOf(Message.MentionType.class))
                        .setComponents(DiscordNotifier.cancelRow(q.jobId())).build()).queue();
            } else if (outcome instanceof JobService.Outcome.Refused r) {
                // the deferred reply is public; the refusal is for the user's eyes only
                hook.deleteOriginal().queue(ok -> { }, err -> { });
                hook.sendMessage("❌ " + r.message()).setEphemeral(true).queue();
            }
        });
    }

    private String cancel(long userId, String jobId) {
        UUID id;
        if (jobId == null || jobId.isBlank()) {
            List<JobRecord> active = store.recentJobs(userId, 20).stream().filter(j -> !j.state().terminal()).toList();
            if (active.isEmpty()) {
                return "You have no queued or running job.";
            }
            id = active.get(0).id();
        } else {
            try {
                id = UUID.fromString(jobId.trim());
            } catch (IllegalArgumentException e) {
                return "❌ That is not a job id; `/jobs` lists yours.";
            }
        }
        return jobs.cancel(id, userId).map(j -> "🚫 Cancelled " + JobMessages.bold(j.prompt()) + "; "
                + j.quotaCharged() + " image(s) were given back to your allowance.")
                .orElse("❌ No queued or running job of yours has that id.");
    }

    /** Answers ephemerally after deferring, with the text computed on the executor (it reads the database). */
    private void ephemeral(SlashCommandInteractionEvent event, java.util.function.Supplier<String> text) {
        event.deferReply(true).queue();
        InteractionHook hook = event.getHook();
        executor.execute(() -> {
            String answer;
            try {
                answer = text.get();
            } catch (DatabaseUnavailableException e) {
                LOG.error("/{} failed: {}", event.getName(), e.getMessage());
                answer = "❌ The job database is unavailable right now. Please try again in a minute.";
            } catch (RuntimeException e) {
                LOG.error("/{} failed", event.getName(), e);
                answer = "❌ Something went wrong on our side.";
            }
            hook.editOriginal(answer).setAllowedMentions(EnumSet.noneOf(Message.MentionType.class)).queue();
        });
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
