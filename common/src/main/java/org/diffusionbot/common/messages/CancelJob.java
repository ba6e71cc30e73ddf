package org.diffusionbot.common.messages;

import java.time.Instant;
import java.util.UUID;

/** Broadcast to every worker: stop this job at its next step, or skip it if it is still queued. */
public record CancelJob(UUID jobId, String requestedBy, Instant sentAt) implements Message {
    public CancelJob {
        Checks.notNull("job_id", jobId);
        Checks.notBlank("requested_by", requestedBy, 200);
        Checks.notNull("sent_at", sentAt);
    }
}
