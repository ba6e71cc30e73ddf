package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.List;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedAttachment;
import org.diffusionbot.bot.fakediscord.RecordedCallback;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.db.QuotaStatus;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * /imagine from a Discord interaction to the final image, through the real JDA client, PostgreSQL,
 * RabbitMQ and a worker runtime (synthetic pipeline: 20 ms a step).
 */
class ImagineFlowIT {
    static final Duration WAIT = Duration.ofSeconds(30);
    static BotHarness h;
    static final QuotaPolicy POLICY = new QuotaPolicy(20, 2);

    @BeforeAll
    static void start() throws Exception {
        h = new BotHarness(POLICY.dailyImages(), POLICY.maxActive());
        h.startWorker("e2e-worker", new SyntheticGenerator(20_000_000), 4);
    }

    @AfterAll
    static void stop() throws Exception {
        h.close();
    }

    @Test
    void imagineEndsWithTheImageAttachedAndTheJobSucceeded() throws Exception {
        // 150 steps at 20 ms: the job lasts two 1.5 s edit intervals, so the edit after the first carries a
        // preview even when the first showed step 1 alone (previews come every 2 steps)
        FakeUser alice = h.discord.createUser("alice");
        InteractionHandle i = h.discord.slashCommand("imagine", alice, Opt.string("prompt", "a red fox in the snow"),
                Opt.integer("steps", 150), Opt.integer("count", 2), Opt.integer("seed", 77), Opt.string("size", "512x768"));
        RecordedCallback deferred = i.awaitCallback(WAIT);
        assertEquals(RecordedCallback.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, deferred.type());
        assertFalse(deferred.isEphemeral());
        assertTrue(deferred.latency().toMillis() < 3000, "deferred within Discord's 3 s: " + deferred.latency());

        RecordedMessage done = i.awaitOriginalEdit(m -> m.attachments().size() == 2, WAIT);
        RecordedAttachment first = done.attachment("image-77.png").orElseThrow();
        String params = Png.readText(first.bytes()).get("parameters");
        assertTrue(params.startsWith("a red fox in the snow\nSteps: 150, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 77,"
                + " Size: 512x768"), params);
        assertTrue(done.attachment("image-78.png").isPresent(), "second image has the next seed");
        assertTrue(done.content().contains("a red fox in the snow") && done.content().contains("seeds 77, 78"),
                done.content());
        assertTrue(done.customIds().stream().noneMatch(id -> id.startsWith("cancel:")), "no cancel button on a finished job");

        List<RecordedMessage> edits = i.originalEdits();
        // the idle worker started it at once: no queue position (a job that waits shows one, see below)
        assertTrue(edits.stream().anyMatch(m -> m.content().contains("step ") && m.attachment("preview.png").isPresent()),
                "a progress edit with a preview");

        JobRecord job = awaitJob(alice, j -> j.deliveredAt() != null);
        assertEquals(JobState.SUCCEEDED, job.state());
        assertEquals("e2e-worker", job.workerId());
        assertNotNull(job.startedAt());
        QuotaStatus q = h.bot.store().quota(alice.idLong(), POLICY);
        assertEquals(2, q.usedToday(), "charged exactly once, for two images");
        assertEquals(0, q.activeJobs());
        assertEquals(2, h.bot.store().images(job.id()).size());
    }

    @Test
    void aJobWaitingForTheWorkerShowsItsQueuePositionBeforeItsProgress() throws Exception {
        // the worker runs one batch at a time and jobs of different sizes never share one: two 150-step
        // jobs keep it busy for 6 s, so a third job queued behind both waits longer than the 1.5 s edit interval
        FakeUser jay = h.discord.createUser("jay");
        InteractionHandle busy = h.discord.slashCommand("imagine", jay, Opt.string("prompt", "a long one"),
                Opt.integer("steps", 150), Opt.string("size", "512x512"));
        busy.awaitOriginalEdit(m -> m.content().contains("step "), WAIT);
        InteractionHandle busy2 = h.discord.slashCommand("imagine", jay, Opt.string("prompt", "another long one"),
                Opt.integer("steps", 150), Opt.string("size", "512x768"));
        // the second long job in the broker's queue (confirmed: out of the outbox) before the short one is
        // submitted: submissions run in parallel, and the short one could otherwise overtake it
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (h.bot.store().recentJobs(jay.idLong(), 5).size() < 2 || h.bot.store()
                .unpublished(java.time.Duration.ZERO, 100).stream()
                .anyMatch(u -> u.request().prompt().equals("another long one"))) {
            assertTrue(System.nanoTime() < deadline, "the second long job was never confirmed by the broker");
            Thread.sleep(10);
        }
        FakeUser kim = h.discord.createUser("kim");
        InteractionHandle waiting = h.discord.slashCommand("imagine", kim, Opt.string("prompt", "a short one"),
                Opt.integer("steps", 2), Opt.string("size", "640x640"));
        BotHarness.finalImage(waiting, WAIT);
        List<RecordedMessage> edits = waiting.originalEdits();
        // behind the second long job, or next in line if that one had already started when it was shown
        assertTrue(edits.get(0).content().matches("(?s).*a short one\\*\\* — queued, (next in line|position 2 in the queue).*"),
                edits.get(0).content());
        assertTrue(edits.get(0).customIds().stream().anyMatch(id -> id.startsWith("cancel:")), "with a cancel button");
        BotHarness.finalImage(busy, WAIT);
        BotHarness.finalImage(busy2, WAIT);
    }

    @Test
    void invalidOptionsGetAnEphemeralErrorAndChargeNothing() throws Exception {
        FakeUser bob = h.discord.createUser("bob");
        InteractionHandle i = h.discord.slashCommand("imagine", bob, Opt.string("prompt", "x"), Opt.integer("width", 100));
        RecordedCallback reply = i.awaitCallback(WAIT);
        assertEquals(RecordedCallback.CHANNEL_MESSAGE_WITH_SOURCE, reply.type());
        assertTrue(reply.isEphemeral());
        assertTrue(reply.content().contains("width must be a multiple of 8"), reply.content());
        assertTrue(h.bot.store().recentJobs(bob.idLong(), 5).isEmpty());
        assertEquals(0, h.bot.store().quota(bob.idLong(), POLICY).usedToday());
    }

    @Test
    void exhaustedQuotaIsRefusedPrivatelyAndNothingIsQueued() throws Exception {
        FakeUser carol = h.discord.createUser("carol");
        h.bot.store().setQuotaOverride(carol.idLong(), "carol", 1, null);
        InteractionHandle ok = h.discord.slashCommand("imagine", carol, Opt.string("prompt", "one"), Opt.integer("steps", 2));
        ok.awaitOriginalEdit(m -> !m.attachments().isEmpty() && m.content().contains("seed"), WAIT);
        InteractionHandle refused = h.discord.slashCommand("imagine", carol, Opt.string("prompt", "two"));
        RecordedMessage followup = refused.awaitFollowup(RecordedMessage::isEphemeral, WAIT);
        assertTrue(followup.content().contains("0 of 1 left today"), followup.content());
        assertEquals(1, h.bot.store().recentJobs(carol.idLong(), 5).size());
        assertEquals(1, h.bot.store().quota(carol.idLong(), POLICY).usedToday());
    }

    @Test
    void cancelStopsTheJobAndRefunds() throws Exception {
        FakeUser dave = h.discord.createUser("dave");
        InteractionHandle i = h.discord.slashCommand("imagine", dave, Opt.string("prompt", "a very slow painting"),
                Opt.integer("steps", 150));
        i.awaitOriginalEdit(m -> m.content().contains("step "), WAIT);
        InteractionHandle c = h.discord.slashCommand("cancel", dave);
        RecordedMessage answer = c.awaitOriginalEdit(m -> true, WAIT);
        assertTrue(answer.content().contains("Cancelled"), answer.content());
        RecordedMessage last = i.awaitOriginalEdit(m -> m.content().contains("cancelled"), WAIT);
        assertTrue(last.attachments().isEmpty());
        JobRecord job = awaitJob(dave, j -> j.deliveredAt() != null);
        assertEquals(JobState.CANCELLED, job.state());
        assertEquals(0, h.bot.store().quota(dave.idLong(), POLICY).usedToday());
        assertEquals(0, h.bot.store().quota(dave.idLong(), POLICY).activeJobs());
    }

    @Test
    void expiredInteractionTokenFallsBackToAChannelMessageMentioningTheUser() throws Exception {
        FakeUser erin = h.discord.createUser("erin");
        InteractionHandle i = h.discord.slashCommand("imagine", erin, Opt.string("prompt", "a lighthouse at dusk"),
                Opt.integer("steps", 60));
        i.awaitOriginalEdit(m -> m.content().contains("queued") || m.content().contains("step"), WAIT);
        i.expireToken(); // Discord now answers 401 Invalid Webhook Token for this interaction
        RecordedMessage posted = h.discord.awaitChannelMessage(i.channelId(),
                m -> m.content().contains("a lighthouse at dusk") && !m.attachments().isEmpty(), WAIT);
        assertTrue(posted.content().contains("<@" + erin.id() + ">"), posted.content());
        assertEquals(JobState.SUCCEEDED, awaitJob(erin, j -> j.deliveredAt() != null).state());
    }

    @Test
    void jobPastTheTokenLifetimeIsPostedWithoutTryingTheEdit() throws Exception {
        FakeUser fay = h.discord.createUser("fay");
        InteractionHandle i = h.discord.slashCommand("imagine", fay, Opt.string("prompt", "an old map"),
                Opt.integer("steps", 60));
        i.awaitOriginalEdit(m -> m.content().contains("queued") || m.content().contains("step"), WAIT);
        try (Connection c = java.sql.DriverManager.getConnection(h.testDb.settings().url(), h.testDb.settings().user(),
                h.testDb.settings().password());
                PreparedStatement ps = c.prepareStatement(
                        "UPDATE jobs SET token_expires_at = now() - interval '1 minute' WHERE user_id = ?")) {
            ps.setLong(1, fay.idLong());
            assertEquals(1, ps.executeUpdate());
        }
        int editsBefore = i.originalEdits().size();
        RecordedMessage posted = h.discord.awaitChannelMessage(i.channelId(),
                m -> m.content().contains("an old map") && !m.attachments().isEmpty(), WAIT);
        assertTrue(posted.content().contains("<@" + fay.id() + ">"));
        assertTrue(i.originalEdits().stream().skip(editsBefore).noneMatch(m -> !m.attachments().isEmpty()
                && m.attachment("preview.png").isEmpty()), "no final edit on an expired interaction");
    }

    @Test
    void poisonJobIsDeadLetteredAfterTheDeliveryLimitAndTheUserIsToldAndRefunded() throws Exception {
        FakeUser hal = h.discord.createUser("hal");
        // the synthetic pipeline throws on this prompt: a transient error on every delivery
        InteractionHandle i = h.discord.slashCommand("imagine", hal, Opt.string("prompt", "[crash] the worker"),
                Opt.integer("steps", 2));
        RecordedMessage failed = i.awaitOriginalEdit(m -> m.content().contains("failed"), WAIT);
        assertTrue(failed.content().contains("failed on every worker that tried it"), failed.content());
        JobRecord job = awaitJob(hal, j -> j.deliveredAt() != null);
        assertEquals(JobState.FAILED, job.state());
        assertEquals(0, h.bot.store().quota(hal.idLong(), POLICY).usedToday());
        assertEquals(0, h.bot.store().quota(hal.idLong(), POLICY).activeJobs());
        // other jobs keep flowing
        InteractionHandle ok = h.discord.slashCommand("imagine", hal, Opt.string("prompt", "fine"), Opt.integer("steps", 2));
        ok.awaitOriginalEdit(m -> !m.attachments().isEmpty() && m.content().contains("seed"), WAIT);
    }

    @Test
    void permanentWorkerFailureIsShownWithItsReason() throws Exception {
        FakeUser ida = h.discord.createUser("ida");
        InteractionHandle i = h.discord.slashCommand("imagine", ida, Opt.string("prompt", "[fail] please"),
                Opt.integer("steps", 2));
        RecordedMessage failed = i.awaitOriginalEdit(m -> m.content().contains("failed"), WAIT);
        assertTrue(failed.content().contains("synthetic failure requested by the prompt"), failed.content());
        assertEquals(JobState.FAILED, awaitJob(ida, j -> j.deliveredAt() != null).state());
        assertEquals(0, h.bot.store().quota(ida.idLong(), POLICY).usedToday());
    }

    @Test
    void quotaAndJobsCommandsAnswerPrivately() throws Exception {
        FakeUser gus = h.discord.createUser("gus");
        InteractionHandle q = h.discord.slashCommand("quota", gus);
        RecordedCallback deferred = q.awaitCallback(WAIT);
        assertTrue(deferred.isEphemeral());
        RecordedMessage answer = q.awaitOriginalEdit(m -> true, WAIT);
        assertTrue(answer.content().contains("**20** of 20 images left today"), answer.content());
        InteractionHandle j = h.discord.slashCommand("jobs", gus);
        assertTrue(j.awaitOriginalEdit(m -> true, WAIT).content().contains("no jobs yet"));
    }

    /** Polls the user's only job until the condition holds (the bot records delivery after Discord answered). */
    private static JobRecord awaitJob(FakeUser u, java.util.function.Predicate<JobRecord> condition)
            throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        JobRecord j = onlyJobOf(u);
        while (!condition.test(j) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            j = onlyJobOf(u);
        }
        assertTrue(condition.test(j), "job never reached the expected state: " + j);
        return j;
    }

    private static JobRecord onlyJobOf(FakeUser u) {
        List<JobRecord> jobs = h.bot.store().recentJobs(u.idLong(), 5);
        assertEquals(1, jobs.size());
        return jobs.get(0);
    }
}
