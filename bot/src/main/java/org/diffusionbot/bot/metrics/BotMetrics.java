package org.diffusionbot.bot.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * The bot's meters. Prometheus names (labels) as scraped from the web server's {@code /metrics}:
 *
 * <ul>
 *   <li>{@code diffusionbot_jobs{model,state}}: jobs queued or running now (PostgreSQL)</li>
 *   <li>{@code diffusionbot_jobs_oldest_queued_seconds{model}}: how long the oldest queued job has waited</li>
 *   <li>{@code diffusionbot_queue_depth{model}}, {@code diffusionbot_queue_consumers{model}}: ready jobs in
 *       {@code sd.jobs.<model>} and the workers consuming it (RabbitMQ)</li>
 *   <li>{@code diffusionbot_workers{state}}: workers by their last heartbeat ({@code idle busy stopping lost} …)</li>
 *   <li>{@code diffusionbot_jobs_submitted_total{model}}, {@code diffusionbot_jobs_finished_total{outcome}}
 *       ({@code succeeded failed cancelled})</li>
 *   <li>{@code diffusionbot_job_wait_seconds{model}}, {@code diffusionbot_job_run_seconds{model}}: histograms of
 *       queued → started and started → finished, as the worker measured them</li>
 *   <li>{@code diffusionbot_quota_refusals_total{reason}} ({@code daily_limit active_limit banned paused blocked_term channel})</li>
 *   <li>{@code diffusionbot_discord_requests_seconds{method,status}}: Discord REST calls by HTTP method and
 *       status class ({@code 2xx 4xx 429 5xx error}), a histogram</li>
 *   <li>{@code diffusionbot_discord_deferral_seconds}: from an {@code /imagine} or button press to Discord's
 *       acknowledgement of its deferral (Discord allows 3 s)</li>
 * </ul>
 *
 * Labels never name users: model names, states, outcomes and reasons only.
 */
public final class BotMetrics {
    private final MeterRegistry registry;
    private final MultiGauge jobs;
    private final MultiGauge oldestQueued;
    private final MultiGauge queueDepth;
    private final MultiGauge queueConsumers;
    private final MultiGauge workers;
    private final Timer deferral;

    public BotMetrics(MeterRegistry registry) {
        this.registry = registry;
        jobs = MultiGauge.builder("diffusionbot.jobs").description("jobs queued or running").register(registry);
        oldestQueued = MultiGauge.builder("diffusionbot.jobs.oldest.queued").baseUnit("seconds")
                .description("wait of the oldest queued job").register(registry);
        queueDepth = MultiGauge.builder("diffusionbot.queue.depth").description("ready jobs in the model's queue")
                .register(registry);
        queueConsumers = MultiGauge.builder("diffusionbot.queue.consumers").description("workers consuming the queue")
                .register(registry);
        workers = MultiGauge.builder("diffusionbot.workers").description("workers by state").register(registry);
        deferral = Timer.builder("diffusionbot.discord.deferral").description("interaction to acknowledged deferral")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(5))
                .maximumExpectedValue(Duration.ofSeconds(10)).register(registry);
        // every outcome and reason from the start, at 0: rate() and alerts see them before the first event
        List.of("succeeded", "failed", "cancelled").forEach(o -> finishedCounter(o));
        List.of("daily_limit", "active_limit", "banned", "paused").forEach(r -> refusals(r));
    }

    /** Meters nobody reads (tests, tools). */
    public static BotMetrics none() {
        return new BotMetrics(new SimpleMeterRegistry());
    }

    public MeterRegistry registry() {
        return registry;
    }

    public void submitted(String model) {
        Counter.builder("diffusionbot.jobs.submitted").description("jobs recorded and charged").tag("model", model)
                .register(registry).increment();
    }

    /** A job ended: {@code succeeded}, {@code failed} or {@code cancelled}. */
    public void finished(String outcome) {
        finishedCounter(outcome).increment();
    }

    private Counter finishedCounter(String outcome) {
        return Counter.builder("diffusionbot.jobs.finished").description("jobs ended").tag("outcome", outcome)
                .register(registry);
    }

    /** A finished job's time in the queue and on the worker. */
    public void timings(String model, Duration waited, Duration ran) {
        histogram("diffusionbot.job.wait", "queued to started", model).record(waited);
        histogram("diffusionbot.job.run", "started to finished", model).record(ran);
    }

    private Timer histogram(String name, String description, String model) {
        return Timer.builder(name).description(description).tag("model", model).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(50)).maximumExpectedValue(Duration.ofHours(1)).register(registry);
    }

    /** A submission refused (nothing charged): {@code daily_limit}, {@code active_limit}, {@code banned}, {@code paused},
     * {@code blocked_term}, {@code channel}, {@code lora}. */
    public void quotaRefused(String reason) {
        refusals(reason.toLowerCase(Locale.ROOT)).increment();
    }

    private Counter refusals(String reason) {
        return Counter.builder("diffusionbot.quota.refusals").description("submissions refused by quota, ban, pause or moderation")
                .tag("reason", reason).register(registry);
    }

    public void deferral(Duration took) {
        deferral.record(took);
    }

    /** A Discord REST call: its HTTP method, status class ({@code 2xx}, {@code 429}, {@code error} …) and duration. */
    public void discordRequest(String method, String status, Duration took) {
        Timer.builder("diffusionbot.discord.requests").description("Discord REST calls").tag("method", method)
                .tag("status", status).publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(5))
                .maximumExpectedValue(Duration.ofSeconds(30)).register(registry).record(took);
    }

    /** The state of jobs, queues and workers now (replaces the previous figures; series no longer listed go). */
    public void fleet(List<JobCount> jobRows, List<Queue> queues, List<WorkerCount> workerRows) {
        jobs.register(jobRows.stream().map(j -> MultiGauge.Row.of(Tags.of("model", j.model(), "state", j.state()),
                j.count())).toList(), true);
        oldestQueued.register(jobRows.stream().filter(j -> j.state().equals("queued"))
                .map(j -> MultiGauge.Row.of(Tags.of("model", j.model()), j.oldestSeconds())).toList(), true);
        queueDepth.register(queues.stream().map(q -> MultiGauge.Row.of(Tags.of("model", q.model()), q.ready()))
                .toList(), true);
        queueConsumers.register(queues.stream().map(q -> MultiGauge.Row.of(Tags.of("model", q.model()), q.consumers()))
                .toList(), true);
        workers.register(workerRows.stream().map(w -> MultiGauge.Row.of(Tags.of("state", w.state()), w.count()))
                .toList(), true);
    }

    /** Jobs of one model in one state ({@code queued}, {@code running}); {@code oldestSeconds}: the oldest one's age. */
    public record JobCount(String model, String state, int count, double oldestSeconds) {
    }

    /** A model's queue: jobs ready for a worker, and consumers. */
    public record Queue(String model, long ready, long consumers) {
    }

    public record WorkerCount(String state, int count) {
    }
}
