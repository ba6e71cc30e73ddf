package org.diffusionbot.bot.discord;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import net.dv8tion.jda.api.entities.Message;
import net.dv8tion.jda.api.events.interaction.command.CommandAutoCompleteInteractionEvent;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;
import net.dv8tion.jda.api.hooks.ListenerAdapter;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.interactions.commands.Command;
import net.dv8tion.jda.api.interactions.commands.OptionMapping;
import org.diffusionbot.bot.jobs.JobService;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.db.DatabaseUnavailableException;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobStore;
import org.diffusionbot.db.NewJob;
import org.diffusionbot.db.UserSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Handles slash commands, autocomplete and buttons. Input is validated synchronously (no I/O) so a bad value
 * gets an ephemeral error at once; valid requests are deferred immediately and the database and
 * broker work happens on the bot's executor, never on JDA's event thread.
 */
public final class CommandListener extends ListenerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(CommandListener.class);
    /** Discord interaction tokens are valid for 15 minutes. */
    static final Duration TOKEN_LIFETIME = Duration.ofMinutes(15);
    /** Discord's limit on a message's content. */
    static final int MAX_CONTENT = 2000;

    private final JobService jobs;
    private final JobStore store;
    private final String defaultModel;
    private final int previewEvery;
    private final ExecutorService executor;
    private final Clock clock;
    private final UxContext ux;
    private final SecureRandom random = new SecureRandom();
    private final Submitter submitter;
    private final ResultButtons buttons;
    private final AdminCommand admin;

    public CommandListener(JobService jobs, JobStore store, String defaultModel, int previewEvery,
            ExecutorService executor, Clock clock, UxContext ux, org.diffusionbot.bot.jobs.ProgressThrottle throttle) {
        this.jobs = jobs;
        this.store = store;
        this.defaultModel = defaultModel;
        this.previewEvery = previewEvery;
        this.executor = executor;
        this.clock = clock;
        this.ux = ux;
        this.submitter = new Submitter(jobs, ux, throttle, executor);
        this.buttons = new ResultButtons(store, ux, submitter, previewEvery, executor, clock, random::nextLong);
        this.admin = new AdminCommand(store, ux, executor);
    }

    @Override
    public void onSlashCommandInteraction(SlashCommandInteractionEvent event) {
        switch (event.getName()) {
            case Commands.IMAGINE -> imagine(event);
            case Commands.QUOTA -> {
                Caller caller = Caller.of(event, ux.adminRoleIds());
                ephemeral(event, () -> JobMessages.quota(store.quota(caller.userId(), submitter.policyFor(caller))));
            }
            case Commands.JOBS -> ephemeral(event, () -> JobMessages.jobs(store.recentJobs(event.getUser().getIdLong(), 10)));
            case Commands.CANCEL -> ephemeral(event, () -> cancel(event.getUser().getIdLong(),
                    Optional.ofNullable(event.getOption("job")).map(OptionMapping::getAsString).orElse(null)));
            case Commands.MODELS -> ephemeral(event, () -> JobMessages.models(ux.workers().models(), defaultModel,
                    ux.settings().paused()));
            case Commands.SETTINGS -> settings(event);
            case Commands.ADMIN -> admin.handle(event);
            default -> event.reply("Unknown command.").setEphemeral(true).queue();
        }
    }

    /** {@code /imagine model:} suggests the models that live workers announce (in memory: answered at once). */
    @Override
    public void onCommandAutoCompleteInteraction(CommandAutoCompleteInteractionEvent event) {
        if (!event.getName().equals(Commands.IMAGINE) || !event.getFocusedOption().getName().equals("model")) {
            event.replyChoices(List.of()).queue();
            return;
        }
        String typed = event.getFocusedOption().getValue().trim().toLowerCase(Locale.ROOT);
        List<String> names = new ArrayList<>(ux.workers().models().stream().map(WorkerRegistry.ModelInfo::name).toList());
        List<Command.Choice> choices = names.stream()
                .filter(n -> n.toLowerCase(Locale.ROOT).contains(typed))
                .sorted((a, b) -> Boolean.compare(!a.toLowerCase(Locale.ROOT).startsWith(typed),
                        !b.toLowerCase(Locale.ROOT).startsWith(typed)))
                .limit(25).map(n -> new Command.Choice(n, n)).toList();
        event.replyChoices(choices).queue();
    }

    @Override
    public void onButtonInteraction(ButtonInteractionEvent event) {
        Optional<ButtonIds.Parsed> parsed = ButtonIds.parse(event.getComponentId());
        if (parsed.isEmpty()) {
            return;
        }
        if (parsed.get().action().equals(ButtonIds.CANCEL)) {
            event.deferReply(true).queue();
            long user = event.getUser().getIdLong();
            UUID job = parsed.get().jobId();
            executor.execute(() -> event.getHook().editOriginal(cancel(user, job.toString())).queue());
            return;
        }
        buttons.handle(event, parsed.get());
    }

    private void imagine(SlashCommandInteractionEvent event) {
        Instant now = clock.instant();
        ImagineOptions.Options options = options(event);
        try {
            // the bot's defaults: a bad value is refused now, before anything is deferred or read
            ImagineOptions.toRequest(options, defaultModel, previewEvery, random::nextLong, now);
        } catch (IllegalArgumentException e) {
            event.reply("❌ " + JobMessages.escape(e.getMessage())).setEphemeral(true).queue();
            return;
        }
        Caller caller = Caller.of(event, ux.adminRoleIds());
        InteractionHook hook = event.getHook();
        long channelId = event.getChannelIdLong();
        long appId = event.getJDA().getSelfUser().getApplicationIdLong();
        String token = event.getToken();
        Instant expires = event.getTimeCreated().toInstant().plus(TOKEN_LIFETIME);
        Submitter.afterDefer(event.deferReply(), executor, () -> {
            JobRequest request;
            org.diffusionbot.db.SubmissionContext context;
            try {
                // pause flag, the user's defaults, the server's negative prompt and the role quota: one round trip
                context = ux.settings().forSubmission(caller.userId(), caller.guildId(), caller.roleIds(),
                        jobs.policy());
                request = ImagineOptions.toRequest(options, defaults(context, caller), defaultModel, previewEvery,
                        random::nextLong, now);
            } catch (IllegalArgumentException e) {
                // the user's saved defaults together with these options are out of bounds
                Submitter.refuse(hook, JobMessages.escape(e.getMessage()) + " (with your `/settings` defaults)");
                return;
            } catch (RuntimeException e) {
                LOG.error("reading the defaults of user {} failed", caller.userId(), e);
                Submitter.refuse(hook, "the job database is unavailable right now; nothing was charged.");
                return;
            }
            submitter.submit(hook, new NewJob(request, caller.userId(), caller.userName(), caller.guildId(),
                    channelId, "imagine", null, appId, token, expires), context.paused(), context.policy());
        });
    }

    /** The user's /settings, then the server's default negative prompt. */
    private static ImagineOptions.Defaults defaults(org.diffusionbot.db.SubmissionContext context, Caller caller) {
        UserSettings s = context.user();
        String negative = s.negativePrompt();
        if (negative == null && caller.guildId() != null) {
            negative = context.guildNegative();
        }
        Sampler sampler = null;
        if (s.sampler() != null) {
            try {
                sampler = Sampler.fromId(s.sampler());
            } catch (IllegalArgumentException e) {
                LOG.warn("user {} has an unknown default sampler {}", caller.userId(), s.sampler());
            }
        }
        return new ImagineOptions.Defaults(sampler, s.steps(), s.cfg(), s.width(), s.height(), negative);
    }

    /** {@code /settings}: validates now, saves and shows on the executor. */
    private void settings(SlashCommandInteractionEvent event) {
        String sampler;
        Integer steps;
        Double cfg;
        int[] size;
        String negative;
        try {
            OptionMapping o = event.getOption("sampler");
            sampler = o == null ? null : Sampler.fromId(o.getAsString()).id();
            o = event.getOption("steps");
            steps = o == null ? null : GenerationLimits.checkSteps((int) Math.max(Integer.MIN_VALUE,
                    Math.min(Integer.MAX_VALUE, o.getAsLong())));
            o = event.getOption("cfg");
            cfg = o == null ? null : GenerationLimits.checkCfg(o.getAsDouble());
            o = event.getOption("size");
            size = o == null ? null : ImagineOptions.parseSize(o.getAsString());
            if (size != null) {
                GenerationLimits.checkSize(size[0], size[1]);
            }
            o = event.getOption("negative");
            negative = o == null ? null : o.getAsString().trim().equals("-") ? "-"
                    : GenerationLimits.checkPrompt("negative prompt", o.getAsString(), false);
        } catch (IllegalArgumentException | IllegalStateException e) {
            event.reply("❌ " + JobMessages.escape(e.getMessage())).setEphemeral(true).queue();
            return;
        }
        Boolean gallery = Optional.ofNullable(event.getOption("gallery")).map(OptionMapping::getAsBoolean).orElse(null);
        boolean reset = Optional.ofNullable(event.getOption("reset")).map(OptionMapping::getAsBoolean).orElse(false);
        boolean change = reset || !event.getOptions().isEmpty();
        long userId = event.getUser().getIdLong();
        String userName = event.getUser().getName();
        ephemeral(event, () -> {
            UserSettings cur = reset ? new UserSettings(null, null, null, null, null, null,
                    ux.settings().userSettings(userId).galleryPublic()) : ux.settings().userSettings(userId);
            if (!change) {
                return JobMessages.settings(cur, false);
            }
            UserSettings next = new UserSettings(
                    sampler != null ? sampler : cur.sampler(),
                    steps != null ? steps : cur.steps(),
                    cfg != null ? cfg : cur.cfg(),
                    size != null ? Integer.valueOf(size[0]) : cur.width(),
                    size != null ? Integer.valueOf(size[1]) : cur.height(),
                    negative == null ? cur.negativePrompt() : negative.equals("-") || negative.isBlank() ? null
                            : negative,
                    gallery != null ? gallery : cur.galleryPublic());
            ux.settings().saveUserSettings(userId, userName, next);
            return JobMessages.settings(next, true);
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

    private void ephemeral(SlashCommandInteractionEvent event, java.util.function.Supplier<String> text) {
        ephemeral(event, executor, text);
    }

    /**
     * Answers ephemerally after deferring, with the text computed on {@code executor} (it reads the
     * database); a long answer is split into several messages; mentions are shown, never pinged.
     */
    static void ephemeral(SlashCommandInteractionEvent event, java.util.concurrent.Executor executor,
            java.util.function.Supplier<String> text) {
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
            List<String> parts = split(answer);
            hook.editOriginal(parts.get(0)).setAllowedMentions(EnumSet.noneOf(Message.MentionType.class)).queue();
            for (String part : parts.subList(1, parts.size())) {
                hook.sendMessage(part).setEphemeral(true)
                        .setAllowedMentions(EnumSet.noneOf(Message.MentionType.class)).queue();
            }
        });
    }

    /** Splits a long answer at line ends into messages Discord accepts. */
    static List<String> split(String text) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (String line : text.split("\n", -1)) {
            String l = line.length() > MAX_CONTENT ? line.substring(0, MAX_CONTENT - 1) + "…" : line;
            if (cur.length() > 0 && cur.length() + 1 + l.length() > MAX_CONTENT) {
                out.add(cur.toString());
                cur.setLength(0);
            }
            if (cur.length() > 0) {
                cur.append('\n');
            }
            cur.append(l);
        }
        out.add(cur.toString());
        return out;
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
