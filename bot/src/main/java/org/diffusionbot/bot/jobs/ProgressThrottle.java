package org.diffusionbot.bot.jobs;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.diffusionbot.common.messages.JobProgress;

/**
 * Limits message edits to one per job per {@code interval}; the newest progress wins, and a newer
 * one without a preview keeps the latest preview seen. Driven by a {@link Clock} so tests never sleep:
 * {@link #offer} whenever progress arrives, {@link #due} on a timer.
 *
 * <p>It also decides whether a job's queue position is worth an edit: a job {@link #queued} gets its
 * notice only if it is still waiting (no progress, not ended) one interval later; a job that starts
 * sooner goes straight to its first progress edit.
 */
public final class ProgressThrottle {
    private final Clock clock;
    private final Duration interval;
    private final Map<UUID, State> jobs = new HashMap<>();
    /** Jobs that ended recently: late progress for them is dropped. */
    private final Map<UUID, Boolean> ended = new java.util.LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<UUID, Boolean> eldest) {
            return size() > 10_000;
        }
    };

    /** Queued jobs whose queue position has not been shown, by the time they were queued. */
    private final Map<UUID, Waiting> waiting = new java.util.LinkedHashMap<>();

    private static final class Waiting {
        final long since;
        final Runnable notice;
        boolean handedOut;

        Waiting(long since, Runnable notice) {
            this.since = since;
            this.notice = notice;
        }
    }

    private static final class State {
        long lastEdit = Long.MIN_VALUE;
        JobProgress pending;
        byte[] preview;
    }

    public ProgressThrottle(Clock clock, Duration interval) {
        this.clock = clock;
        this.interval = interval;
    }

    /** What to show for one edit: the latest progress and the latest preview seen (may be null). */
    public record Edit(JobProgress progress, byte[] preview) {
    }

    public synchronized void offer(JobProgress p) {
        if (ended.containsKey(p.jobId())) {
            return;
        }
        waiting.remove(p.jobId()); // started: its progress replaces the queue position
        State s = jobs.computeIfAbsent(p.jobId(), k -> new State());
        if (s.pending != null && s.pending.step() > p.step()) {
            return; // out of order: an older step never replaces a newer one
        }
        s.pending = p;
        if (p.previewPng() != null) {
            s.preview = p.previewPng();
        }
    }

    /** The edits to make now: jobs with pending progress whose last edit is at least one interval old. */
    public synchronized List<Edit> due() {
        return due(id -> true);
    }

    /** As {@link #due()}, for the jobs {@code ready} accepts; the others keep their pending progress. */
    public synchronized List<Edit> due(java.util.function.Predicate<UUID> ready) {
        long now = clock.millis();
        List<Edit> out = new ArrayList<>();
        for (Map.Entry<UUID, State> e : jobs.entrySet()) {
            State s = e.getValue();
            if (s.pending != null && (s.lastEdit == Long.MIN_VALUE || now - s.lastEdit >= interval.toMillis())
                    && ready.test(e.getKey())) {
                out.add(new Edit(s.pending, s.preview));
                s.pending = null;
                s.lastEdit = now;
            }
        }
        return out;
    }

    /**
     * A job was recorded and queued. {@code notice} is handed out by {@link #dueNotices} if the job is
     * still waiting one interval from now; it should look the position up and then show it through
     * {@link #ifStillWaiting}.
     */
    public synchronized void queued(UUID jobId, Runnable notice) {
        if (!jobs.containsKey(jobId) && !ended.containsKey(jobId)) {
            waiting.put(jobId, new Waiting(clock.millis(), notice));
        }
    }

    /** The notices of jobs queued at least one interval ago that have neither started nor ended; each once. */
    public synchronized List<Runnable> dueNotices() {
        long now = clock.millis();
        List<Runnable> out = new ArrayList<>();
        for (Waiting w : waiting.values()) {
            if (now - w.since < interval.toMillis()) {
                break; // in the order they were queued
            }
            if (!w.handedOut) {
                w.handedOut = true;
                out.add(w.notice);
            }
        }
        return out;
    }

    /**
     * Runs {@code edit} under this throttle's lock if the job has still neither started nor ended, and
     * forgets the job's notice. {@code edit} should only enqueue the Discord edit: enqueued under the
     * lock, it is ordered before any progress or outcome edit of the job (same route, same JDA bucket).
     */
    public synchronized boolean ifStillWaiting(UUID jobId, Runnable edit) {
        if (waiting.remove(jobId) == null) {
            return false;
        }
        edit.run();
        return true;
    }

    /** The job ended: forget it, so no progress edit overwrites the final message. */
    public synchronized void finished(UUID jobId) {
        waiting.remove(jobId);
        jobs.remove(jobId);
        ended.put(jobId, Boolean.TRUE);
    }

    synchronized int tracked() {
        return jobs.size();
    }
}
