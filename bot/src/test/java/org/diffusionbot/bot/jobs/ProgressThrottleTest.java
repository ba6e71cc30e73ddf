package org.diffusionbot.bot.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.diffusionbot.common.messages.JobProgress;
import org.diffusionbot.common.testing.SettableClock;
import org.junit.jupiter.api.Test;

class ProgressThrottleTest {
    final SettableClock clock = new SettableClock(Instant.parse("2026-11-22T10:00:00Z"));
    final ProgressThrottle throttle = new ProgressThrottle(clock, Duration.ofMillis(1500));
    final UUID job = UUID.randomUUID();

    JobProgress p(int step, byte[] preview) {
        return new JobProgress(job, "w", step, 30, 1000, preview, clock.instant());
    }

    @Test
    void firstProgressIsShownAtOnceThenAtMostOncePerInterval() {
        throttle.offer(p(1, null));
        assertEquals(1, throttle.due().size());
        throttle.offer(p(2, null));
        throttle.offer(p(3, null));
        assertTrue(throttle.due().isEmpty(), "within 1.5 s of the last edit");
        clock.advance(Duration.ofMillis(1499));
        assertTrue(throttle.due().isEmpty());
        clock.advance(Duration.ofMillis(1));
        List<ProgressThrottle.Edit> due = throttle.due();
        assertEquals(1, due.size());
        assertEquals(3, due.get(0).progress().step(), "the newest progress wins");
        clock.advance(Duration.ofSeconds(10));
        assertTrue(throttle.due().isEmpty(), "nothing new, nothing to edit");
    }

    @Test
    void latestPreviewIsKeptAcrossProgressWithoutOne() {
        byte[] preview = {1, 2, 3};
        throttle.offer(p(5, preview));
        throttle.offer(p(6, null));
        ProgressThrottle.Edit e = throttle.due().get(0);
        assertEquals(6, e.progress().step());
        assertArrayEquals(preview, e.preview());
    }

    @Test
    void olderStepsNeverReplaceNewerOnesAndEndedJobsAreForgotten() {
        throttle.offer(p(9, null));
        throttle.offer(p(4, null));
        assertEquals(9, throttle.due().get(0).progress().step());
        throttle.finished(job);
        clock.advance(Duration.ofSeconds(5));
        throttle.offer(p(10, null));
        assertTrue(throttle.due().isEmpty(), "late progress must not overwrite the final message");
        assertEquals(0, throttle.tracked());
    }

    @Test
    void queuePositionIsShownOnlyForAJobStillWaitingOneIntervalLater() {
        java.util.concurrent.atomic.AtomicInteger shown = new java.util.concurrent.atomic.AtomicInteger();
        throttle.queued(job, () -> throttle.ifStillWaiting(job, shown::incrementAndGet));
        UUID other = UUID.randomUUID();
        throttle.queued(other, () -> throttle.ifStillWaiting(other, shown::incrementAndGet));
        clock.advance(Duration.ofMillis(1499));
        assertTrue(throttle.dueNotices().isEmpty(), "within the interval");
        throttle.offer(p(1, null)); // job started: its progress replaces the position
        clock.advance(Duration.ofMillis(1));
        List<Runnable> due = throttle.dueNotices();
        assertEquals(1, due.size(), "only the job still waiting");
        assertTrue(throttle.dueNotices().isEmpty(), "handed out once");
        due.get(0).run();
        assertEquals(1, shown.get());
        assertTrue(!throttle.ifStillWaiting(other, shown::incrementAndGet), "shown once");
    }

    @Test
    void aNoticeHandedOutIsDroppedWhenTheJobStartsOrEndsBeforeItIsShown() {
        UUID other = UUID.randomUUID();
        throttle.queued(job, () -> { });
        throttle.queued(other, () -> { });
        clock.advance(Duration.ofSeconds(2));
        assertEquals(2, throttle.dueNotices().size());
        throttle.offer(p(1, null));
        throttle.finished(other);
        assertTrue(!throttle.ifStillWaiting(job, () -> { throw new AssertionError("started"); }));
        assertTrue(!throttle.ifStillWaiting(other, () -> { throw new AssertionError("ended"); }));
        throttle.queued(other, () -> { });
        clock.advance(Duration.ofSeconds(2));
        assertTrue(throttle.dueNotices().isEmpty(), "an ended job is not queued again");
    }
}
