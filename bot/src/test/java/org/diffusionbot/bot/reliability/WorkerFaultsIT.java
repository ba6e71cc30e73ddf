package org.diffusionbot.bot.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.function.Predicate;
import org.diffusionbot.bot.e2e.BotHarness;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.worker.runtime.ImageGenerator;
import org.diffusionbot.worker.runtime.JobOutcome;
import org.diffusionbot.worker.runtime.PreparedJob;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Workers that die, freeze or hang mid-job: the job goes to another worker, finishes once, the user
 * sees one final image and is charged once. Figures go to docs/RELIABILITY.md.
 */
class WorkerFaultsIT {
    static final Duration WAIT = Duration.ofSeconds(90);
    static final QuotaPolicy POLICY = new QuotaPolicy(100, 3);
    BotHarness h;

    @BeforeEach
    void start() throws Exception {
        h = new BotHarness(POLICY.dailyImages(), POLICY.maxActive());
    }

    @AfterEach
    void stop() throws Exception {
        h.close();
    }

    @Test
    void workerKilledWithSigkillMidJob() throws Exception {
        try (WorkerProcess doomed = WorkerProcess.start(h.workerEnv("doomed"))) {
            doomed.awaitConsuming(Duration.ofSeconds(60));
            FakeUser u = h.discord.createUser("kim");
            InteractionHandle i = h.discord.slashCommand("imagine", u, Opt.string("prompt", "a long job"),
                    Opt.integer("steps", 150), Opt.integer("width", 64), Opt.integer("height", 64),
                    Opt.string("sampler", "euler"));
            i.awaitOriginalEdit(m -> m.content().contains("step "), WAIT);
            long killed = System.nanoTime();
            doomed.kill();
            h.startWorker("survivor", new SyntheticGenerator(1_000_000), 1);
            RecordedMessage done = BotHarness.finalImage(i, WAIT);
            long recoveryMs = (System.nanoTime() - killed) / 1_000_000;
            assertEquals(1, done.attachments().size());
            JobRecord job = h.awaitDelivered(u, WAIT);
            assertEquals(JobState.SUCCEEDED, job.state());
            assertEquals("survivor", job.workerId());
            assertEquals(2, job.attempts(), "started by the killed worker, finished by the survivor");
            assertOneImageChargedOnce(u, job);
            System.out.printf("RELIABILITY sigkill: jobs 1 sent, 1 completed, 0 lost, 0 duplicated, recovery %d ms%n",
                    recoveryMs);
        }
    }

    @Test
    void frozenWorkerLosesItsJobAfterTheBrokerHeartbeatTimesOut() throws Exception {
        try (WorkerProcess frozen = WorkerProcess.start(h.workerEnv("frozen"))) {
            frozen.awaitConsuming(Duration.ofSeconds(60));
            FakeUser u = h.discord.createUser("fred");
            InteractionHandle i = h.discord.slashCommand("imagine", u, Opt.string("prompt", "frozen in time"),
                    Opt.integer("steps", 150), Opt.integer("width", 64), Opt.integer("height", 64),
                    Opt.string("sampler", "euler"));
            i.awaitOriginalEdit(m -> m.content().contains("step "), WAIT);
            frozen.signal("STOP"); // a hung process: no AMQP heartbeats any more
            long stopped = System.nanoTime();
            h.startWorker("thawed", new SyntheticGenerator(1_000_000), 1);
            RecordedMessage done = BotHarness.finalImage(i, WAIT);
            long recoveryMs = (System.nanoTime() - stopped) / 1_000_000;
            assertEquals(1, done.attachments().size());
            JobRecord job = h.awaitDelivered(u, WAIT);
            assertEquals("thawed", job.workerId());
            assertOneImageChargedOnce(u, job);
            assertTrue(recoveryMs < 30_000, "bounded by about twice RABBITMQ_HEARTBEAT_SECONDS (2 s): " + recoveryMs);
            System.out.printf("RELIABILITY frozen worker (SIGSTOP): 1 sent, 1 completed, 0 lost, 0 duplicated,"
                    + " recovery %d ms (AMQP heartbeat 2 s)%n", recoveryMs);
        }
    }

    @Test
    void hungPipelineIsCaughtByTheWatchdog() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch tripped = new CountDownLatch(1);
        ImageGenerator stuck = new ImageGenerator() {
            @Override
            public String device() {
                return "stuck";
            }

            @Override
            public List<JobOutcome> generate(List<PreparedJob> batch, ProgressListener p, Predicate<UUID> c)
                    throws Exception {
                p.onStep(batch.get(0).job().jobId(), 1, batch.get(0).job().steps(), null);
                release.await(); // a kernel that never returns
                throw new IllegalStateException("released at teardown");
            }
        };
        h.startWorker("stuck", stuck, 1, Duration.ofSeconds(3), tripped::countDown);
        FakeUser u = h.discord.createUser("hank");
        InteractionHandle i = h.discord.slashCommand("imagine", u, Opt.string("prompt", "never ends"),
                Opt.integer("steps", 10), Opt.integer("width", 64), Opt.integer("height", 64));
        i.awaitOriginalEdit(m -> m.content().contains("step "), WAIT);
        long hungAt = System.nanoTime();
        h.startWorker("rescuer", new SyntheticGenerator(1_000_000), 1);
        RecordedMessage done = BotHarness.finalImage(i, WAIT);
        long recoveryMs = (System.nanoTime() - hungAt) / 1_000_000;
        assertEquals(0, tripped.getCount(), "the watchdog fired");
        assertEquals(1, done.attachments().size());
        JobRecord job = h.awaitDelivered(u, WAIT);
        assertEquals("rescuer", job.workerId());
        assertOneImageChargedOnce(u, job);
        release.countDown();
        System.out.printf("RELIABILITY hung pipeline: 1 sent, 1 completed, 0 lost, 0 duplicated, recovery %d ms"
                + " (JOB_TIMEOUT_SECONDS 3)%n", recoveryMs);
    }

    private void assertOneImageChargedOnce(FakeUser u, JobRecord job) {
        assertEquals(1, h.bot.store().images(job.id()).size());
        assertEquals(1, h.bot.store().quota(u.idLong(), POLICY).usedToday());
        assertEquals(0, h.bot.store().quota(u.idLong(), POLICY).activeJobs());
    }
}
