package org.diffusionbot.common.messages;

import java.time.Instant;
import java.util.UUID;

/**
 * Progress of a running job, published to the progress exchange (transient: may be dropped).
 *
 * @param etaMillis  estimated milliseconds until the job finishes
 * @param previewPng a small PNG of the current x0 estimate, or null on steps without a preview
 */
public record JobProgress(
        UUID jobId,
        String workerId,
        int step,
        int totalSteps,
        long etaMillis,
        byte[] previewPng,
        Instant sentAt) implements Message {

    public JobProgress {
        Checks.notNull("job_id", jobId);
        Checks.notBlank("worker_id", workerId, 200);
        Checks.range("total_steps", totalSteps, 1, 10_000);
        Checks.range("step", step, 0, totalSteps);
        if (etaMillis < 0) {
            throw new IllegalArgumentException("eta_millis must not be negative");
        }
        Checks.notNull("sent_at", sentAt);
    }
}
