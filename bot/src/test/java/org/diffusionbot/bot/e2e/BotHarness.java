package org.diffusionbot.bot.e2e;

import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.diffusionbot.bot.Bot;
import org.diffusionbot.bot.BotConfig;
import org.diffusionbot.bot.fakediscord.FakeDiscord;
import org.diffusionbot.common.config.RabbitSettings;
import org.diffusionbot.common.mq.RabbitTestSupport;
import org.diffusionbot.db.TestDatabase;
import org.diffusionbot.worker.WorkerConfig;
import org.diffusionbot.worker.runtime.ImageGenerator;
import org.diffusionbot.worker.runtime.WorkerRuntime;

/**
 * The whole system in one JVM for end-to-end tests: the fake Discord, the real bot (JDA, HikariCP,
 * Flyway) on a fresh database of the real PostgreSQL server, and real worker runtimes on the real
 * RabbitMQ, for a model name and a results queue of its own so concurrent suites never share queues.
 */
@SuppressWarnings("try")
public final class BotHarness implements AutoCloseable {
    public final FakeDiscord discord;
    public final TestDatabase testDb;
    public Bot bot;
    private final BotConfig config;
    public final String model = "e2e-" + UUID.randomUUID().toString().substring(0, 8);
    /** The bot's own results queue: suites running at once on one broker never take each other's results. */
    public final String resultsQueue = "sd.results." + model;
    private final List<WorkerRuntime> workers = new ArrayList<>();

    public BotHarness(int dailyLimit, int maxActive) throws Exception {
        this(dailyLimit, maxActive, java.util.function.UnaryOperator.identity());
    }

    /** With a changed configuration (e.g. admin roles, heartbeat interval). */
    public BotHarness(int dailyLimit, int maxActive, java.util.function.UnaryOperator<BotConfig> configure)
            throws Exception {
        discord = FakeDiscord.start();
        testDb = TestDatabase.create();
        RabbitSettings rabbit = RabbitTestSupport.settings();
        config = new BotConfig(discord.token(), URI.create(discord.apiBaseUrl()),
                URI.create(discord.gatewayUrl()), testDb.settings(), rabbit, model, dailyLimit, maxActive, 2,
                "127.0.0.1", 0).withResultsQueue(resultsQueue);
        bot = Bot.start(configure.apply(config), Clock.systemUTC());
    }

    /** Starts a worker for this harness's model. */
    public WorkerRuntime startWorker(String id, ImageGenerator generator, int batchSize) throws Exception {
        return startWorker(id, generator, batchSize, java.time.Duration.ofMinutes(5), null);
    }

    /** Starts a worker that records into {@code metrics}. */
    public WorkerRuntime startWorker(String id, ImageGenerator generator, int batchSize,
            org.diffusionbot.worker.runtime.WorkerMetrics metrics) throws Exception {
        WorkerConfig wc = new WorkerConfig(Path.of("."), model, id, "cpu", batchSize, 1, null,
                java.time.Duration.ofMinutes(5), RabbitTestSupport.settings());
        WorkerRuntime w = new WorkerRuntime(wc, generator, Clock.systemUTC(), metrics);
        w.start();
        workers.add(w);
        return w;
    }

    /**
     * Starts a worker serving every model of {@code pool} (a multi-model worker: loads on demand within the pool's
     * budget); the caller deletes the job queues of models other than this harness's.
     */
    public WorkerRuntime startWorker(String id, org.diffusionbot.worker.runtime.ModelPool pool, int batchSize,
            org.diffusionbot.worker.runtime.WorkerMetrics metrics) throws Exception {
        WorkerConfig wc = new WorkerConfig(Path.of("."), model, id, "cpu", batchSize, 1, null,
                java.time.Duration.ofMinutes(5), RabbitTestSupport.settings());
        WorkerRuntime w = new WorkerRuntime(wc, pool, Clock.systemUTC(), metrics);
        w.start();
        workers.add(w);
        return w;
    }

    /** Starts a worker with a job timeout; {@code onHung} replaces the watchdog's JVM halt. */
    public WorkerRuntime startWorker(String id, ImageGenerator generator, int batchSize, java.time.Duration jobTimeout,
            Runnable onHung) throws Exception {
        WorkerConfig wc = new WorkerConfig(Path.of("."), model, id, "cpu", batchSize, 1, null, jobTimeout,
                RabbitTestSupport.settings());
        WorkerRuntime w = new WorkerRuntime(wc, generator, Clock.systemUTC());
        if (onHung != null) {
            w.onHung(onHung);
        }
        w.start();
        workers.add(w);
        return w;
    }

    /** The final edit of an interaction's original response: the image(s), no preview. */
    public static org.diffusionbot.bot.fakediscord.RecordedMessage finalImage(
            org.diffusionbot.bot.fakediscord.InteractionHandle i, java.time.Duration wait) {
        return i.awaitOriginalEdit(m -> !m.attachments().isEmpty() && m.attachment("preview.png").isEmpty(), wait);
    }

    /** The user's only job, once the user has been shown its outcome. */
    public org.diffusionbot.db.JobRecord awaitDelivered(org.diffusionbot.bot.fakediscord.FakeUser u,
            java.time.Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (System.nanoTime() < deadline) {
            List<org.diffusionbot.db.JobRecord> jobs = bot.store().recentJobs(u.idLong(), 5);
            if (jobs.size() == 1 && jobs.get(0).deliveredAt() != null) {
                return jobs.get(0);
            }
            Thread.sleep(20);
        }
        throw new AssertionError("job of " + u.username() + " not delivered");
    }

    /** Stops the bot (jobs keep running on the workers) and starts a new one on the same database. */
    public void restartBot(Runnable whileDown) throws Exception {
        bot.close();
        whileDown.run();
        bot = Bot.start(config, Clock.systemUTC());
    }

    /** Environment for a worker subprocess ({@code java -jar worker.jar run}) serving this harness's model. */
    public java.util.Map<String, String> workerEnv(String id) {
        return java.util.Map.of("MODEL_NAME", model, "WORKER_ID", id,
                "RABBITMQ_URL", RabbitTestSupport.settings().uri().toString(), "HEARTBEAT_SECONDS", "1",
                "RABBITMQ_HEARTBEAT_SECONDS", "2", "BATCH_SIZE", "1", "DEVICE", "cpu");
    }

    @Override
    public void close() throws Exception {
        for (WorkerRuntime w : workers) {
            w.close();
        }
        bot.close();
        discord.close();
        testDb.close();
        try (var conn = RabbitTestSupport.connect("e2e-cleanup"); var ch = conn.createChannel()) {
            ch.queueDelete(org.diffusionbot.common.mq.Topology.jobsQueue(model));
            ch.queueDelete(resultsQueue);
            ch.queueDelete(org.diffusionbot.common.mq.Topology.deadQueueFor(resultsQueue));
        }
    }
}
