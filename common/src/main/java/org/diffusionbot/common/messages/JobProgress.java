package org.diffusionbot.common.messages;

import java.time.Instant;
import java.util.UUID;

/**
 * Progress of a running job, published to the progress exchange (transient: may be dropped).
 *
 * @param etaMillis  estimated milliseconds until the job finishes
 * @param previewPng a small PNG of the current x0 estimate, or null on steps without a preview
 * @param loadingModel the model the worker is loading for this job (step 0, {@code etaMillis}: how long its
 *                     last load took, 0 if unknown), or null; optional (absent in older workers' progress)
 */
public record JobProgress(
        UUID jobId,
        String workerId,
        int step,
        int totalSteps,
        long etaMillis,
        byte[] previewPng,
        Instant sentAt,
        @OptionalField String loadingModel) implements Message {

    public JobProgress {
        Checks.notNull("job_id", jobId);
        Checks.notBlank("worker_id", workerId, 200);
        Checks.range("total_steps", totalSteps, 1, 10_000);
        Checks.range("step", step, 0, totalSteps);
        if (etaMillis < 0) {
            throw new IllegalArgumentException("eta_millis must not be negative");
        }
        Checks.notNull("sent_at", sentAt);
        if (loadingModel != null) {
            Checks.notBlank("loading_model", loadingModel, 100);
        }
    }

    /** Progress of a running job. */
    public JobProgress(UUID jobId, String workerId, int step, int totalSteps, long etaMillis, byte[] previewPng,
            Instant sentAt) {
        this(jobId, workerId, step, totalSteps, etaMillis, previewPng, sentAt, null);
    }
}
