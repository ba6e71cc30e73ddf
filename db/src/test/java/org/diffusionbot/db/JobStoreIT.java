package org.diffusionbot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.testing.SettableClock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Job state changes and quota accounting on the real PostgreSQL server. */
class JobStoreIT {
    static final Instant NOON = Instant.parse("2026-11-22T12:00:00Z");
    static final AtomicLong USERS = new AtomicLong(1000);
    static TestDatabase testDb;
    static Database db;
    final SettableClock clock = new SettableClock(NOON);
    JobStore store;

    @BeforeAll
    static void start() throws SQLException {
        testDb = TestDatabase.create();
        db = Database.start(testDb.settings());
    }

    @AfterAll
    static void stop() throws SQLException {
        db.close();
        testDb.close();
    }

    JobStore store() {
        if (store == null) {
            store = new JobStore(db.dataSource(), clock);
        }
        return store;
    }

    static NewJob job(long user, int count) {
        JobRequest r = new JobRequest(UUID.randomUUID(), "sd15", "a cat <b>'; DROP TABLE jobs; --", "", 512, 512, 20,
                7, Sampler.EULER_A, 1, count, 1, null, null, 5, NOON);
        return new NewJob(r, user, "user" + user, 1L, 2L, "imagine", null, 3L, "tok-" + r.jobId(),
                NOON.plus(Duration.ofMinutes(15)));
    }

    @Test
    void acceptedJobIsRecordedAndCharged() {
        long u = USERS.incrementAndGet();
        NewJob j = job(u, 3);
        Submission.Accepted a = assertInstanceOf(Submission.Accepted.class, store().submit(j, new QuotaPolicy(10, 2)));
        assertEquals(3, a.quota().usedToday());
        assertEquals(7, a.quota().remainingToday());
        JobRecord rec = store().find(a.jobId()).orElseThrow();
        assertEquals(JobState.QUEUED, rec.state());
        assertEquals("a cat <b>'; DROP TABLE jobs; --", rec.prompt(), "stored verbatim, never interpreted");
        assertEquals(Instant.parse("2026-11-23T00:00:00Z"), a.quota().resetsAt());
        assertEquals("default", rec.schedule());
    }

    @Test
    void theScheduleIsRecorded() {
        long u = USERS.incrementAndGet();
        NewJob j = job(u, 1);
        NewJob trailing = new NewJob(j.request().withSchedule(org.diffusionbot.common.Schedule.TRAILING), j.userId(),
                j.userName(), j.guildId(), j.channelId(), j.kind(), j.parentImageId(), j.applicationId(),
                j.interactionToken(), j.tokenExpiresAt());
        UUID id = ((Submission.Accepted) store().submit(trailing, new QuotaPolicy(10, 2))).jobId();
        assertEquals("trailing", store().find(id).orElseThrow().schedule());
    }

    @Test
    void refusalsWriteNothing() throws SQLException {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(4, 1);
        assertInstanceOf(Submission.Accepted.class, store().submit(job(u, 3), policy));
        Submission.Refused active = assertInstanceOf(Submission.Refused.class, store().submit(job(u, 1), policy));
        assertEquals(Submission.Reason.ACTIVE_LIMIT, active.reason());
        Submission.Refused daily = assertInstanceOf(Submission.Refused.class,
                store().submit(job(u, 2), new QuotaPolicy(4, 5)));
        assertEquals(Submission.Reason.DAILY_LIMIT, daily.reason());
        assertTrue(daily.message().contains("1 of 4 left"), daily.message());
        assertEquals(1, count("SELECT count(*) FROM jobs WHERE user_id = " + u));
        QuotaStatus q = store().quota(u, policy);
        assertEquals(3, q.usedToday());
        assertEquals(1, q.activeJobs());
    }

    @Test
    void bannedUsersAreRefused() throws SQLException {
        long u = USERS.incrementAndGet();
        store().submit(job(u, 1), new QuotaPolicy(10, 5));
        exec("UPDATE users SET banned = true WHERE id = " + u);
        Submission.Refused r = assertInstanceOf(Submission.Refused.class, store().submit(job(u, 1), new QuotaPolicy(10, 5)));
        assertEquals(Submission.Reason.BANNED, r.reason());
    }

    @Test
    void completionIsIdempotentAndFreesTheActiveSlot() throws SQLException {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(10, 1);
        UUID id = ((Submission.Accepted) store().submit(job(u, 2), policy)).jobId();
        store().markRunning(id, "w1");
        assertEquals(JobState.RUNNING, store().find(id).orElseThrow().state());
        List<StoredImage> images = List.of(image(0), image(1));
        assertTrue(store().complete(id, "w1", images));
        assertFalse(store().complete(id, "w1", images), "a redelivered result changes nothing");
        assertEquals(2, count("SELECT count(*) FROM images WHERE job_id = '" + id + "'"));
        QuotaStatus q = store().quota(u, policy);
        assertEquals(0, q.activeJobs());
        assertEquals(2, q.usedToday(), "a success keeps its charge");
        assertFalse(store().fail(id, JobState.FAILED, "w2", "late failure"), "a finished job cannot fail afterwards");
        JobRecord done = store().find(id).orElseThrow();
        assertEquals(JobState.SUCCEEDED, done.state());
        assertEquals(1, done.attempts());
    }

    @Test
    void completeAndGetReturnsTheJobItEndedOnlyOnce() {
        long u = USERS.incrementAndGet();
        UUID id = ((Submission.Accepted) store().submit(job(u, 1), new QuotaPolicy(10, 1))).jobId();
        JobRecord ended = store().completeAndGet(id, "w1", List.of(image(0))).orElseThrow().job();
        assertEquals(JobState.SUCCEEDED, ended.state());
        assertEquals("w1", ended.workerId());
        assertTrue(ended.finishedAt() != null && ended.deliveredAt() == null);
        assertTrue(store().completeAndGet(id, "w1", List.of(image(0))).isEmpty(), "already ended");
        assertEquals(0, store().quota(u, new QuotaPolicy(10, 1)).activeJobs());
    }

    @Test
    void marksForManyJobsAtOnceSetEachOnlyOnce() throws SQLException {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(10, 3);
        UUID a = ((Submission.Accepted) store().submit(job(u, 1), policy)).jobId();
        UUID b = ((Submission.Accepted) store().submit(job(u, 1), policy)).jobId();
        store().markPublished(List.of(a, b));
        store().markDelivered(List.of(a));
        assertEquals(2, count("SELECT count(*) FROM jobs WHERE published_at IS NOT NULL AND user_id = " + u));
        Instant first = store().find(a).orElseThrow().deliveredAt();
        assertTrue(first != null && store().find(b).orElseThrow().deliveredAt() == null);
        exec("SELECT pg_sleep(0.01)");
        store().markDelivered(List.of(a, b));
        assertEquals(first, store().find(a).orElseThrow().deliveredAt(), "a mark is never moved");
        assertTrue(store().find(b).orElseThrow().deliveredAt() != null);
    }

    @Test
    void submissionContextReadsPauseDefaultsNegativeAndRoleQuotasAtOnce() throws SQLException {
        SettingsStore settings = new SettingsStore(db.dataSource());
        QuotaPolicy dflt = new QuotaPolicy(10, 2);
        long u = USERS.incrementAndGet();
        SubmissionContext none = settings.forSubmission(u, null, List.of(), dflt);
        assertEquals(UserSettings.NONE, none.user());
        assertEquals(dflt, none.policy());
        assertEquals(settings.paused(), none.paused());
        assertEquals(null, none.guildNegative());
        long guild = 900_000L + u;
        settings.saveUserSettings(u, "u" + u, new UserSettings("euler", 30, null, 512, 768, null, false, "trailing",
                0.7, 2));
        settings.setGuildDefaultNegative(guild, "blurry", 1L);
        settings.setRoleQuota(guild, 11L, 50, null, 1L);
        settings.setRoleQuota(guild, 12L, 20, 5, 1L);
        settings.setRoleQuota(guild, 13L, 99, 9, 1L); // a role the member does not have
        SubmissionContext c = settings.forSubmission(u, guild, List.of(11L, 12L), dflt);
        assertEquals(settings.userSettings(u), c.user());
        assertEquals("trailing", c.user().schedule());
        assertEquals(0.7, c.user().guidanceRescale());
        assertEquals(2, c.user().clipSkip());
        assertEquals("blurry", c.guildNegative());
        assertEquals(settings.policyFor(guild, List.of(11L, 12L), dflt), c.policy());
        assertEquals(new QuotaPolicy(50, 5), c.policy());
        assertEquals(dflt, settings.forSubmission(u, guild, List.of(), dflt).policy());
        assertEquals(null, c.guildMaxLoras(), "no LoRA limit set: the bot's default applies");
        settings.setGuildMaxLoras(guild, 0, 1L);
        assertEquals(0, settings.forSubmission(u, guild, List.of(), dflt).guildMaxLoras());
        assertEquals("blurry", settings.forSubmission(u, guild, List.of(), dflt).guildNegative(), "the negative stays");
        settings.setGuildMaxLoras(guild, 2, 1L);
        assertEquals(java.util.Optional.of(2), settings.guildMaxLoras(guild));
        settings.setGuildMaxLoras(guild, null, 1L);
        assertEquals(null, settings.forSubmission(u, guild, List.of(), dflt).guildMaxLoras());
        assertThrows(ConstraintViolationException.class, () -> settings.setGuildMaxLoras(guild, 21, 1L),
                "the table's own limit");
    }

    @Test
    void failureRefundsExactlyOnce() {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(10, 3);
        UUID a = ((Submission.Accepted) store().submit(job(u, 3), policy)).jobId();
        store().submit(job(u, 2), policy);
        assertTrue(store().fail(a, JobState.FAILED, "w1", "NaN"));
        assertFalse(store().fail(a, JobState.FAILED, "w1", "NaN"));
        QuotaStatus q = store().quota(u, policy);
        assertEquals(2, q.usedToday());
        assertEquals(1, q.activeJobs());
        assertEquals("NaN", store().find(a).orElseThrow().error());
    }

    @Test
    void aWeightedJobIsChargedAndRefundedItsChargeAndRefusedSayingWhatItCounts() {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(10, 3);
        Submission.Accepted a = assertInstanceOf(Submission.Accepted.class,
                store().submit(job(u, 2).withCharge(4), policy));
        assertEquals(4, a.quota().usedToday());
        assertEquals(4, store().find(a.jobId()).orElseThrow().quotaCharged());
        Submission.Refused r = assertInstanceOf(Submission.Refused.class, store().submit(job(u, 4).withCharge(8), policy));
        assertTrue(r.message().startsWith("this needs 8 image(s) of your allowance (4 image(s) of model sd15, each"
                + " counting 2) but you have 6 of 10 left today"), r.message());
        assertTrue(store().fail(a.jobId(), JobState.FAILED, "w1", "NaN"));
        assertEquals(0, store().quota(u, policy).usedToday());
        assertThrows(IllegalArgumentException.class, () -> job(u, 2).withCharge(1));
    }

    @Test
    void quotaDayRollsOverAndYesterdaysRefundDoesNotInflateToday() {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(4, 5);
        UUID yesterday = ((Submission.Accepted) store().submit(job(u, 4), policy)).jobId();
        assertInstanceOf(Submission.Refused.class, store().submit(job(u, 1), policy));
        clock.advance(Duration.ofHours(13)); // past midnight UTC
        assertInstanceOf(Submission.Accepted.class, store().submit(job(u, 3), policy));
        store().fail(yesterday, JobState.FAILED, "w", "boom");
        QuotaStatus q = store().quota(u, policy);
        assertEquals(3, q.usedToday());
        assertEquals(1, q.activeJobs());
    }

    @Test
    void usersCanCancelOnlyTheirOwnActiveJobs() {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(10, 3);
        UUID id = ((Submission.Accepted) store().submit(job(u, 1), policy)).jobId();
        assertTrue(store().cancel(id, u + 1).isEmpty());
        assertEquals(JobState.CANCELLED, store().cancel(id, u).orElseThrow().state());
        assertTrue(store().cancel(id, u).isEmpty(), "already cancelled");
        assertEquals(0, store().quota(u, policy).usedToday());
    }

    @Test
    void queuePositionCountsEarlierQueuedJobsOfTheSameModel() {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(100, 10);
        UUID first = ((Submission.Accepted) store().submit(job(u, 1), policy)).jobId();
        clock.advance(Duration.ofSeconds(1));
        NewJob second = job(u, 1);
        JobRequest r2 = second.request();
        NewJob later = new NewJob(new JobRequest(r2.jobId(), r2.model(), r2.prompt(), r2.negativePrompt(), r2.width(),
                r2.height(), r2.steps(), r2.cfg(), r2.sampler(), r2.seed(), r2.count(), r2.clipSkip(), null, null,
                r2.previewEvery(), NOON.plusSeconds(3600)), u, "x", 1L, 2L, "imagine", null, null, null, null);
        UUID id2 = ((Submission.Accepted) store().submit(later, policy)).jobId();
        int before = store().queuePosition(id2);
        store().markRunning(first, "w");
        assertEquals(before - 1, store().queuePosition(id2));
    }

    @Test
    void concurrentSubmissionsNeverExceedTheAllowanceAndRefundsRestoreItExactly() throws Exception {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(50, 1000);
        List<Submission> results = hammer(u, 300, policy);
        List<UUID> accepted = accepted(results);
        assertEquals(50, accepted.size());
        QuotaStatus q = store().quota(u, policy);
        assertEquals(50, q.usedToday());
        assertEquals(50, q.activeJobs());
        assertEquals(50, count("SELECT count(*) FROM jobs WHERE user_id = " + u));
        ExecutorService pool = Executors.newFixedThreadPool(16);
        List<Future<Boolean>> refunds = new ArrayList<>();
        for (UUID id : accepted) {
            refunds.add(pool.submit(() -> store().fail(id, JobState.FAILED, "w", "x")));
            refunds.add(pool.submit(() -> store().fail(id, JobState.CANCELLED, "w", "x")));
        }
        int ended = 0;
        for (Future<Boolean> f : refunds) {
            ended += f.get() ? 1 : 0;
        }
        pool.shutdown();
        assertEquals(50, ended, "each job ends exactly once");
        q = store().quota(u, policy);
        assertEquals(0, q.usedToday());
        assertEquals(0, q.activeJobs());
    }

    @Test
    void concurrentSubmissionsNeverExceedTheActiveJobCap() throws Exception {
        long u = USERS.incrementAndGet();
        QuotaPolicy policy = new QuotaPolicy(10_000, 5);
        assertEquals(5, accepted(hammer(u, 200, policy)).size());
        assertEquals(5, store().quota(u, policy).activeJobs());
    }

    private List<Submission> hammer(long user, int n, QuotaPolicy policy) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(16);
        List<Callable<Submission>> tasks = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            tasks.add(() -> store().submit(job(user, 1), policy));
        }
        List<Submission> out = new ArrayList<>();
        for (Future<Submission> f : pool.invokeAll(tasks)) {
            out.add(f.get());
        }
        pool.shutdown();
        return out;
    }

    private static List<UUID> accepted(List<Submission> results) {
        return results.stream().filter(s -> s instanceof Submission.Accepted)
                .map(s -> ((Submission.Accepted) s).jobId()).toList();
    }

    private static StoredImage image(int i) {
        return new StoredImage(i, 1 + i, 512, 512, new byte[] {1, 2}, new byte[] {3}, "a cat");
    }

    private static int count(String sql) throws SQLException {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static void exec(String sql) throws SQLException {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
