package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Predicate;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.bot.service.QuotaWeights;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.mq.RabbitTestSupport;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.worker.runtime.ImageGenerator;
import org.diffusionbot.worker.runtime.JobOutcome;
import org.diffusionbot.worker.runtime.ModelPool;
import org.diffusionbot.worker.runtime.PreparedJob;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.diffusionbot.worker.runtime.WorkerMetrics;
import org.junit.jupiter.api.Test;

/**
 * A worker with two models and room for one (a real {@code WorkerRuntime} over a {@link ModelPool} of synthetic
 * generators; a load takes 2 s): the harness's SD 1.x model and an "SDXL" one. The bot shows "loading model …" while
 * the worker loads a job's model, remembers the SDXL model's family after it was unloaded (its default size stays
 * 1024x1024), charges an SDXL image twice with {@code QUOTA_WEIGHTS=sdxl=2}, refunding the same on cancel, and
 * shows each model's queue, resident workers and ETA in {@code /models} and {@code /admin workers}.
 */
class MultiModelFlowIT {
    static final Duration WAIT = Duration.ofSeconds(60);
    static final QuotaPolicy POLICY = new QuotaPolicy(50, 3);

    @Test
    void loadsShowInTheProgressAndSdxlImagesWeighTheirQuotaWeight() throws Exception {
        try (BotHarness h = new BotHarness(50, 3, c -> c.withQuotaWeights(QuotaWeights.parse("sdxl=2")))) {
            String xl = h.model + "-xl";
            try {
                Map<String, Long> sizes = new LinkedHashMap<>();
                sizes.put(h.model, 6L);
                sizes.put(xl, 6L);
                ModelPool pool = new ModelPool(sizes, 6, "synthetic", name -> {
                    Thread.sleep(2_000);
                    return new ModelPool.Loaded(generator(name.equals(xl) ? "sdxl" : "sd1",
                            name.equals(xl) ? 1024 : 512), 6);
                }, new WorkerMetrics(new SimpleMeterRegistry()));
                pool.acquire(xl, (n, last) -> { });
                h.startWorker("mm-worker", pool, 4, new WorkerMetrics(new SimpleMeterRegistry()));
                FakeUser ann = h.discord.createUser("ann");
                poll(() -> h.discord.slashCommand("models", ann).awaitOriginalEdit(m -> true, WAIT).content(),
                        m -> m.contains("`" + xl + "` — SDXL, 1024x1024"));

                // the SD 1.x model is not loaded: the worker unloads the SDXL one and loads it
                InteractionHandle sd = h.discord.slashCommand("imagine", ann, Opt.string("prompt", "a small boat"),
                        Opt.integer("steps", 2));
                RecordedMessage loading = sd.awaitOriginalEdit(m -> m.content().contains("loading model"), WAIT);
                assertTrue(loading.content().endsWith("— loading model `" + h.model + "` …"), loading.content());
                RecordedMessage sdDone = BotHarness.finalImage(sd, WAIT);
                assertTrue(sdDone.content().contains("512x512"), sdDone.content());
                assertEquals(1, h.bot.store().quota(ann.idLong(), POLICY).usedToday());

                // the SDXL model again: loaded (the last load's time shown), still known as SDXL, charged 2 per image
                InteractionHandle x = h.discord.slashCommand("imagine", ann, Opt.string("prompt", "a big ship"),
                        Opt.integer("steps", 2), Opt.integer("count", 2), Opt.string("model", xl));
                RecordedMessage xlLoading = x.awaitOriginalEdit(m -> m.content().contains("loading model"), WAIT);
                assertTrue(xlLoading.content().contains("— loading model `" + xl + "` … (about 2 s)"),
                        xlLoading.content());
                RecordedMessage xlDone = BotHarness.finalImage(x, WAIT);
                assertTrue(xlDone.content().contains("1024x1024"), xlDone.content());
                assertEquals(1 + 2 * 2, h.bot.store().quota(ann.idLong(), POLICY).usedToday());
                JobRecord xlJob = h.bot.store().recentJobs(ann.idLong(), 1).get(0);
                assertEquals(4, xlJob.quotaCharged());

                // /models and /admin workers: queue depth, resident models and an ETA from the recent run times
                InteractionHandle slow = h.discord.slashCommand("imagine", ann, Opt.string("prompt", "a slow ship"),
                        Opt.integer("steps", 150), Opt.string("model", xl));
                slow.awaitOriginalEdit(m -> m.content().contains("step "), WAIT);
                h.discord.slashCommand("imagine", ann, Opt.string("prompt", "a waiting ship"),
                        Opt.integer("steps", 150), Opt.string("model", xl));
                String models = poll(() -> h.discord.slashCommand("models", ann).awaitOriginalEdit(m -> true, WAIT)
                        .content(), m -> line(m, "`" + xl + "`").contains("queue: 1 waiting, 1 running"));
                String xlLine = line(models, "`" + xl + "`");
                assertTrue(xlLine.contains("SDXL, 1024x1024 · 1 worker") && xlLine.contains("a new job: about "),
                        xlLine);
                assertTrue(line(models, "`" + h.model + "`").contains("loaded on 0 (the others load it when a job"
                        + " needs it) · queue empty · a new job: about "), models);
                FakeUser boss = h.discord.createUser("boss", true);
                String admin = poll(() -> admin(h, boss), a -> a.contains("queue: 1 waiting, 1 running"));
                String xlAdmin = line(admin, "• `" + xl + "`");
                assertTrue(xlAdmin.contains("SDXL, 1024x1024 · queue: 1 waiting, 1 running (0 ready in RabbitMQ)"
                        + " · loaded on 1 of 1 worker · a job runs about ") && xlAdmin.contains(" · a new job: about "),
                        xlAdmin);
                assertTrue(line(admin, "`mm-worker`").contains("· " + xl + " (can load " + h.model + ")"), admin);

                // cancelled SDXL jobs give back what they were charged
                assertEquals(1 + 4 + 2 + 2, h.bot.store().quota(ann.idLong(), POLICY).usedToday());
                for (int k = 0; k < 2; k++) {
                    h.discord.slashCommand("cancel", ann).awaitOriginalEdit(m -> m.content().contains("Cancelled"),
                            WAIT);
                }
                JobRecord cancelled = h.bot.store().recentJobs(ann.idLong(), 1).get(0);
                assertEquals(JobState.CANCELLED, cancelled.state());
                assertEquals(2, cancelled.quotaCharged());
                assertEquals(1 + 4, h.bot.store().quota(ann.idLong(), POLICY).usedToday());
            } finally {
                try (var conn = RabbitTestSupport.connect("mm-cleanup"); var ch = conn.createChannel()) {
                    ch.queueDelete(Topology.jobsQueue(xl));
                }
            }
        }
    }

    /**
     * An SDXL model the worker has not loaded yet is SDXL at 1024x1024 from the first heartbeat on (described from
     * its checkpoint at start-up), so its first /imagine without a size makes 1024x1024, not SD 1.x's 512x512.
     */
    @Test
    void anSdxlModelNotLoadedYetGetsItsNativeSizeFromTheWorkersDescription() throws Exception {
        try (BotHarness h = new BotHarness(50, 3)) {
            String xl = h.model + "-xl";
            try {
                Map<String, Long> sizes = new LinkedHashMap<>();
                sizes.put(h.model, 6L);
                sizes.put(xl, 6L);
                ModelPool pool = new ModelPool(sizes, 6, "synthetic", name -> new ModelPool.Loaded(
                        generator(name.equals(xl) ? "sdxl" : "sd1", name.equals(xl) ? 1024 : 512), 6),
                        new WorkerMetrics(new SimpleMeterRegistry()), List.of(),
                        Map.of(xl, new WorkerHeartbeat.ModelInfo(xl, "sdxl", 1024, 1024)));
                pool.acquire(h.model, (n, last) -> { });
                h.startWorker("mm-worker", pool, 4, new WorkerMetrics(new SimpleMeterRegistry()));
                FakeUser ann = h.discord.createUser("ann");
                poll(() -> h.discord.slashCommand("models", ann).awaitOriginalEdit(m -> true, WAIT).content(),
                        m -> m.contains("`" + xl + "` — SDXL, 1024x1024"));
                InteractionHandle x = h.discord.slashCommand("imagine", ann, Opt.string("prompt", "a big ship"),
                        Opt.integer("steps", 2), Opt.string("model", xl));
                RecordedMessage done = BotHarness.finalImage(x, WAIT);
                assertTrue(done.content().contains("1024x1024"), done.content());
                // one clip skip numbering (Automatic1111's) for every family: no clip skip (or SDXL's default, 2,
                // chosen) is recorded as none and runs SDXL's penultimate layer, which the PNG says as "Clip skip: 2";
                // SDXL's 1 is its last layer, recorded and written as 1 (A1111 writes no "Clip skip" for 1)
                JobRecord plain = h.bot.store().recentJobs(ann.idLong(), 1).get(0);
                assertEquals(0, plain.clipSkip());
                assertEquals(List.of("0", "Clip skip: 2"), publishedClipSkip(h, plain.id()));
                InteractionHandle two = h.discord.slashCommand("imagine", ann, Opt.string("prompt", "a big ship"),
                        Opt.integer("steps", 2), Opt.string("model", xl), Opt.integer("clip_skip", 2));
                BotHarness.finalImage(two, WAIT);
                assertEquals(0, h.bot.store().recentJobs(ann.idLong(), 1).get(0).clipSkip(), "SDXL's default");
                InteractionHandle last = h.discord.slashCommand("imagine", ann, Opt.string("prompt", "a big ship"),
                        Opt.integer("steps", 2), Opt.string("model", xl), Opt.integer("clip_skip", 1));
                assertTrue(BotHarness.finalImage(last, WAIT).content().contains("1024x1024"));
                JobRecord one = h.bot.store().recentJobs(ann.idLong(), 1).get(0);
                assertEquals(1, one.clipSkip());
                assertEquals(List.of("1", ""), publishedClipSkip(h, one.id()));
            } finally {
                try (var conn = RabbitTestSupport.connect("mm-cleanup"); var ch = conn.createChannel()) {
                    ch.queueDelete(Topology.jobsQueue(xl));
                }
            }
        }
    }

    /** The first line of {@code text} that contains {@code part}. */
    private static String line(String text, String part) {
        return text.lines().filter(l -> l.contains(part)).findFirst().orElse("");
    }

    /** {@code /admin workers} as an admin sees it. */
    private static String admin(BotHarness h, FakeUser admin) {
        InteractionHandle i = h.discord.slashCommand("admin", admin, Opt.sub("workers"));
        org.diffusionbot.bot.fakediscord.RecordedCallback cb = i.awaitCallback(WAIT);
        if (cb.type() == org.diffusionbot.bot.fakediscord.RecordedCallback.CHANNEL_MESSAGE_WITH_SOURCE) {
            return cb.content();
        }
        return i.awaitOriginalEdit(m -> true, WAIT).content();
    }

    /** A synthetic model of a family and native size (100 ms a step). */
    private static ImageGenerator generator(String family, int nativeSize) {
        SyntheticGenerator g = new SyntheticGenerator(100_000_000);
        return new ImageGenerator() {
            @Override
            public String device() {
                return g.device();
            }

            @Override
            public List<JobOutcome> generate(List<PreparedJob> batch, ProgressListener l, Predicate<UUID> cancelled)
                    throws Exception {
                return g.generate(batch, l, cancelled);
            }

            @Override
            public WorkerHeartbeat.ModelInfo modelInfo(String modelName) {
                return new WorkerHeartbeat.ModelInfo(modelName, family, nativeSize, nativeSize);
            }
        };
    }

    private static String poll(java.util.function.Supplier<String> read, Predicate<String> until) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            last = read.get();
            if (until.test(last)) {
                return last;
            }
            Thread.sleep(300);
        }
        throw new AssertionError("never came: " + last);
    }

    /**
     * The clip skip of the job's stored request (what the bot published) and the {@code Clip skip: N} of its first
     * image's parameters, which the worker writes ("" when absent).
     */
    private static List<String> publishedClipSkip(BotHarness h, UUID job) throws Exception {
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(h.testDb.settings().url(),
                h.testDb.settings().user(), h.testDb.settings().password());
                java.sql.PreparedStatement ps = c.prepareStatement("""
                        SELECT j.request->>'clip_skip', coalesce(substring(i.parameters from 'Clip skip: [0-9]+'), '')
                          FROM jobs j JOIN images i ON i.job_id = j.id WHERE j.id = ? AND i.image_index = 0""")) {
            ps.setObject(1, job);
            try (java.sql.ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next(), "job " + job + " has an image");
                return List.of(rs.getString(1), rs.getString(2));
            }
        }
    }
}
