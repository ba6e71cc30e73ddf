package org.diffusionbot.bot.service;

import java.time.Instant;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.diffusionbot.bot.jobs.JobService;
import org.diffusionbot.common.ModelSpec;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.db.NewJob;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.db.SettingsStore;
import org.diffusionbot.db.SubmissionContext;

/**
 * Submitting a job for a member: {@code /imagine} and the buttons that make new jobs. Before anything is charged it
 * reads, in one round trip, whether the bot is paused, the member's defaults, their quota policy, the server's
 * moderation rules and its LoRA limit ({@link #prepare}); a paused bot refuses, then moderation (a blocked term in the
 * prompt, a channel the server does not allow), then the LoRAs it names ({@link LoraService}: unknown, of another
 * model family, more than the server allows), each charging nothing; then {@link JobService} charges, records and
 * publishes.
 */
public final class SubmitService {
    /** Shown when an admin paused the bot. */
    public static final String PAUSED = "the bot is paused by an admin: new jobs are not taken right now (nothing was"
            + " charged). Please try again later.";

    private final JobService jobs;
    private final SettingsStore settings;
    private final QuotaService quotas;
    private final ModerationService moderation;
    private final LoraService loras;
    private final String defaultModel;
    private final int previewEvery;
    private final LongSupplier random;
    private final Function<String, ModelSpec> specs;
    private final QuotaWeights weights;
    private final Function<String, WorkerHeartbeat.ModelDefaults> recommended;

    /**
     * @param specs   what each model is (family, native size): the worker registry's {@code spec}
     * @param weights what an image of each family is charged
     */
    public SubmitService(JobService jobs, SettingsStore settings, QuotaService quotas, ModerationService moderation,
            LoraService loras, String defaultModel, Function<String, ModelSpec> specs, QuotaWeights weights,
            int previewEvery, LongSupplier random) {
        this(jobs, settings, quotas, moderation, loras, defaultModel, specs, weights, previewEvery, random, m -> null);
    }

    /**
     * @param recommended a model's recommended settings as its workers announce them (null: none), used for the
     *     options a user leaves out of {@code /imagine} before their own defaults
     */
    public SubmitService(JobService jobs, SettingsStore settings, QuotaService quotas, ModerationService moderation,
            LoraService loras, String defaultModel, Function<String, ModelSpec> specs, QuotaWeights weights,
            int previewEvery, LongSupplier random, Function<String, WorkerHeartbeat.ModelDefaults> recommended) {
        this.recommended = recommended;
        this.loras = loras;
        this.specs = specs;
        this.weights = weights;
        this.jobs = jobs;
        this.settings = settings;
        this.quotas = quotas;
        this.moderation = moderation;
        this.defaultModel = defaultModel;
        this.previewEvery = previewEvery;
        this.random = random;
    }

    /**
     * What a submission needs to know about its member and server before it is charged.
     *
     * @param maxLoras the most LoRAs one job may name on the server ({@link LoraService#DEFAULT_MAX_LORAS} unless an
     *     admin set a limit)
     */
    public record Prepared(boolean paused, ImagineOptions.Defaults defaults, QuotaPolicy policy,
            ModerationService.Rules moderation, int maxLoras) {
    }

    /**
     * Checks {@code /imagine}'s options against the bot's defaults alone, without I/O: IllegalArgumentException
     * (the message for the user) when a value is out of bounds, {@link LoraService.Refused} (a subclass, its message
     * formatted already) for a LoRA the job may not use.
     */
    public void check(ImagineOptions.Options options, Instant now) {
        JobRequest request = ImagineOptions.toRequest(options, defaultModel, specs, previewEvery, random, now);
        // LoRA names and tags too (the registry is in memory); the server's limit is checked once it is read
        loras.refusal(request, LoraService.MAX_LORAS_LIMIT).ifPresent(r -> {
            throw new LoraService.Refused(r);
        });
    }

    /**
     * Reads the pause flag, the member's defaults, their quota policy and the server's moderation rules (one round
     * trip).
     */
    public Prepared prepare(Caller caller) {
        SubmissionContext c = settings.forSubmission(caller.userId(), caller.guildId(), caller.roleIds(),
                quotas.defaults());
        return new Prepared(c.paused(), UserSettingsService.imagineDefaults(c, caller), c.policy(),
                moderation.rules(caller.guildId(), c.moderation()),
                c.guildMaxLoras() == null ? LoraService.DEFAULT_MAX_LORAS : c.guildMaxLoras());
    }

    /**
     * The request {@code /imagine} asks for with the member's defaults filled in; IllegalArgumentException when the
     * options together with those defaults are out of bounds.
     */
    public JobRequest imagineRequest(ImagineOptions.Options options, Prepared prepared, Instant now) {
        return ImagineOptions.toRequest(options, prepared.defaults(), recommended, defaultModel, specs, previewEvery,
                random, now);
    }

    /**
     * The job row of a request by {@code caller} from {@code origin}; the request is marked with whether the
     * channel is age-restricted ({@link JobRequest#ageRestricted()}: workers check the images of every other job).
     */
    public static NewJob newJob(JobRequest request, Caller caller, Origin origin, String kind, Long parentImageId) {
        return new NewJob(request.withAgeRestricted(origin.ageRestricted()), caller.userId(), caller.userName(),
                caller.guildId(), origin.channelId(), kind, parentImageId, origin.applicationId(), origin.token(),
                origin.tokenExpiresAt());
    }

    /**
     * Charges, records and publishes the job, or refuses it (paused, a blocked term in its prompt or negative prompt,
     * a channel the server does not allow, a LoRA it may not use, banned, over quota, the database down: the refusal
     * says why and nothing is charged). The job is charged its images times its model family's weight
     * ({@link QuotaWeights}).
     *
     * @param onRecorded as {@link JobService#submit(NewJob, QuotaPolicy, Consumer)}
     */
    public JobService.Outcome submit(NewJob job, Prepared prepared, Consumer<JobService.Outcome.Queued> onRecorded) {
        if (prepared.paused()) {
            jobs.metrics().quotaRefused("paused");
            return new JobService.Outcome.Refused(PAUSED);
        }
        try {
            java.util.Optional<ModerationService.Refusal> refusal = moderation.refusal(job, prepared.moderation());
            if (refusal.isPresent()) {
                jobs.metrics().quotaRefused(refusal.get() instanceof ModerationService.Refusal.Blocked
                        ? "blocked_term" : "channel");
                return new JobService.Outcome.Refused(refusal.get().message());
            }
            java.util.Optional<String> lora = loras.refusal(job.request(), prepared.maxLoras());
            if (lora.isPresent()) {
                jobs.metrics().quotaRefused("lora");
                return new JobService.Outcome.Refused(lora.get());
            }
            JobRequest r = job.request();
            return jobs.submit(job.withCharge(weights.charge(specs.apply(r.model()).family(), r.count())),
                    prepared.policy(), onRecorded);
        } catch (RuntimeException e) {
            return new JobService.Outcome.Refused(Failures.forUser("submitting job " + job.request().jobId(), e, true));
        }
    }

    /** Jobs of the same model queued ahead of this one (0 = next). */
    public int queuePosition(java.util.UUID jobId) {
        return jobs.queuePosition(jobId);
    }

    /** Whether the job is still waiting for a worker. */
    public boolean isQueued(java.util.UUID jobId) {
        return jobs.isQueued(jobId);
    }
}
