package org.diffusionbot.bot.jobs;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.JobStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends the outbox: jobs recorded and charged whose publish the broker never confirmed (it was
 * down or restarting) are published again until confirmed. A job nobody can run (unroutable) or
 * one that waited past {@link #MAX_WAIT} is failed, refunded and shown. A job published twice
 * (its confirm was lost) does no harm: results are idempotent.
 */
public final class Republisher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Republisher.class);
    /** Younger jobs may still be waiting for their first confirm. */
    static final Duration MIN_AGE = JobService.PUBLISH_TIMEOUT.plusSeconds(2);
    static final Duration MAX_WAIT = Duration.ofMinutes(10);
    static final String GAVE_UP = "the job queue was unavailable for too long";

    private final JobStore store;
    private final JobPublisher publisher;
    private final OutcomeDisplay display;
    private final Clock clock;
    private final Set<UUID> inFlight = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "republisher");
        t.setDaemon(true);
        return t;
    });

    public Republisher(JobStore store, JobPublisher publisher, OutcomeDisplay display, Clock clock) {
        this.store = store;
        this.publisher = publisher;
        this.display = display;
        this.clock = clock;
    }

    public void start(Duration every) {
        timer.scheduleWithFixedDelay(this::sweep, every.toMillis(), every.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** One pass over the outbox. */
    void sweep() {
        try {
            for (org.diffusionbot.db.OutboxStore.Unpublished u : store.unpublished(MIN_AGE, 200)) {
                JobRequest r = u.request();
                if (Duration.between(u.createdAt(), clock.instant()).compareTo(MAX_WAIT) > 0) {
                    giveUp(r.jobId(), GAVE_UP);
                } else if (inFlight.add(r.jobId())) {
                    publisher.publish(r).whenCompleteAsync((outcome, err) -> {
                        inFlight.remove(r.jobId());
                        if (outcome == JobPublisher.Outcome.CONFIRMED) {
                            store.markPublished(List.of(r.jobId()));
                            LOG.info("job {} published from the outbox", r.jobId());
                        } else if (outcome == JobPublisher.Outcome.UNROUTABLE) {
                            giveUp(r.jobId(), JobService.unroutable(r.model()));
                        }
                    }, timer); // database work off the broker's confirm thread
                }
            }
        } catch (RuntimeException e) {
            LOG.warn("outbox sweep failed: {}", e.getMessage());
        }
    }

    private void giveUp(UUID jobId, String reason) {
        if (store.fail(jobId, JobState.FAILED, null, reason)) {
            LOG.warn("job {} failed: {}", jobId, reason);
            display.show(jobId, java.util.List.of(), reason, null);
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
