package org.diffusionbot.bot.jobs;

import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.JobStore;
import org.diffusionbot.db.StoredImage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shows an ended job's outcome to its user exactly once: a job already shown, or not ended, is
 * skipped; the job is marked shown only after Discord accepted the message.
 */
public final class OutcomeDisplay {
    private static final Logger LOG = LoggerFactory.getLogger(OutcomeDisplay.class);

    private final JobStore store;
    private final JobNotifier notifier;
    private final ProgressThrottle throttle;

    private final StoreMarks marks;

    /** {@code marks} records the delivery after Discord answered (never on Discord's callback threads). */
    public OutcomeDisplay(JobStore store, JobNotifier notifier, ProgressThrottle throttle, StoreMarks marks) {
        this.store = store;
        this.notifier = notifier;
        this.throttle = throttle;
        this.marks = marks;
    }

    /** The job's outcome arrived and will be shown: its progress is no longer worth an edit. */
    public void ending(UUID jobId) {
        throttle.finished(jobId);
    }

    /**
     * @param failure the reason to show when the job record has none
     * @param images  the images just stored, or null to read them from the database
     */
    public CompletableFuture<Void> show(UUID jobId, List<String> notes, String failure, List<StoredImage> images) {
        JobRecord job = store.find(jobId).orElse(null);
        if (job == null) {
            LOG.warn("outcome for unknown job {} dropped", jobId);
            return CompletableFuture.completedFuture(null);
        }
        return show(job, notes, failure, images);
    }

    /** As {@link #show(UUID, List, String, List)} for the job as it stands (e.g. as the call that ended it returned it). */
    public CompletableFuture<Void> show(JobRecord job, List<String> notes, String failure, List<StoredImage> images) {
        UUID jobId = job.id();
        throttle.finished(jobId);
        if (job.deliveredAt() != null || !job.state().terminal()) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> shown = job.state() == JobState.SUCCEEDED
                ? notifier.succeeded(job, images != null ? images : store.images(jobId), notes)
                : notifier.failed(job, job.state() == JobState.CANCELLED ? "cancelled"
                        : job.error() != null ? job.error() : failure);
        return shown.thenCompose(ok -> marks.delivered(jobId));
    }
}
