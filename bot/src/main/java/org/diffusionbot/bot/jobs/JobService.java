package org.diffusionbot.bot.jobs;

import java.time.Duration;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.diffusionbot.common.messages.CancelJob;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.JobStore;
import org.diffusionbot.db.NewJob;

import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.db.QuotaStatus;
import org.diffusionbot.db.Submission;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Accepting and cancelling jobs: charge and record in one transaction, then publish with confirms;
 * a job that cannot be published is failed and refunded at once, so the user is never charged for
 * a job that will not run.
 */
public final class JobService {
    private static final Logger LOG = LoggerFactory.getLogger(JobService.class);
    static final Duration PUBLISH_TIMEOUT = Duration.ofSeconds(10);

    private final JobStore store;
    private final JobPublisher publisher;
    private final StoreMarks marks;

    /** The answer to a submission, for the user. */
    public sealed interface Outcome {
        /**
         * Recorded and charged. {@code delayed}: the broker did not confirm it yet (it is down or
         * restarting); the job stays in the outbox and {@link Republisher} sends it when it can.
         */
        record Queued(UUID jobId, QuotaStatus quota, boolean delayed) implements Outcome {
        }

        record Refused(String message) implements Outcome {
        }
    }

    public JobService(JobStore store, JobPublisher publisher, StoreMarks marks) {
        this.store = store;
        this.publisher = publisher;
        this.marks = marks;
    }

    /**
     * Charges and records the job under {@code policy} (the member's, from
     * {@link org.diffusionbot.bot.service.QuotaService}), then publishes it. A database failure propagates
     * (nothing was charged).
     *
     * @param onRecorded called once the job is recorded and charged, before it is published: what it
     *                   shows the user (queue position) is then ordered before anything a worker's
     *                   progress or result shows, however fast the worker is
     */
    public Outcome submit(NewJob job, QuotaPolicy policy, java.util.function.Consumer<Outcome.Queued> onRecorded) {
        Submission s = store.submit(job, policy); // a database failure propagates: nothing was charged
        if (s instanceof Submission.Refused r) {
            return new Outcome.Refused(r.message());
        }
        UUID id = ((Submission.Accepted) s).jobId();
        Outcome.Queued recorded = new Outcome.Queued(id, ((Submission.Accepted) s).quota(), false);
        onRecorded.accept(recorded);
        try {
            JobPublisher.Outcome o = publisher.publish(job.request()).get(PUBLISH_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (o == JobPublisher.Outcome.CONFIRMED) {
                // coalesced with other jobs' marks, not waited for: should the bot stop before it is written, the
                // outbox publishes the job again, which is harmless (results are idempotent)
                marks.published(id).exceptionally(e -> {
                    LOG.warn("job {} not marked published ({}); the outbox may publish it again", id, e.getMessage());
                    return null;
                });
                return recorded;
            }
            if (o == JobPublisher.Outcome.UNROUTABLE) {
                String problem = unroutable(job.request().model());
                store.fail(id, JobState.FAILED, null, problem);
                return new Outcome.Refused(problem + "; your quota was not charged.");
            }
            LOG.warn("broker refused job {}; it stays in the outbox", id);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            LOG.warn("job {} not confirmed by the broker ({}); it stays in the outbox", id, e.toString());
        }
        return new Outcome.Queued(id, ((Submission.Accepted) s).quota(), true);
    }

    /** Jobs of the same model queued ahead of this one (0 = next). */
    public int queuePosition(UUID jobId) {
        return store.queuePosition(jobId);
    }

    /** Whether the job is still waiting for a worker (not running, not ended). */
    public boolean isQueued(UUID jobId) {
        return store.find(jobId).map(j -> j.state() == JobState.QUEUED).orElse(false);
    }

    static String unroutable(String model) {
        return "no worker serves the model '" + model + "'";
    }

    /** Cancels a job of this user (refunded now) and tells every worker to drop it. */
    public Optional<JobRecord> cancel(UUID jobId, long userId) {
        Optional<JobRecord> cancelled = store.cancel(jobId, userId);
        cancelled.ifPresent(j -> publisher.broadcast(new CancelJob(jobId, "user:" + userId, java.time.Instant.now()),
                "cancel-" + jobId));
        return cancelled;
    }
}
