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

    /** The job ended: forget it, so no progress edit overwrites the final message. */
    public synchronized void finished(UUID jobId) {
        jobs.remove(jobId);
        ended.put(jobId, Boolean.TRUE);
    }

    synchronized int tracked() {
        return jobs.size();
    }
}
