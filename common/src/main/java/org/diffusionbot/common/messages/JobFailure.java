package org.diffusionbot.common.messages;

import java.time.Instant;
import java.util.UUID;

/**
 * A job that ended without images. Published to the results queue like a result, so the bot
 * records it, refunds the quota and tells the user in one place.
 *
 * @param workerId the worker that gave up, or {@code "broker"} for a dead-lettered job
 * @param message  a sentence for the user; never a stack trace
 */
public record JobFailure(
        UUID jobId,
        String workerId,
        Code code,
        String message,
        Instant finishedAt) implements Message {

    /** Why a job failed. */
    public enum Code {
        /** The job's parameters cannot be run (e.g. an init image that is not an image). */
        INVALID_REQUEST,
        /** The worker does not have the model. */
        UNKNOWN_MODEL,
        /** The pipeline produced NaN or Inf (often fp16 overflow in the VAE). */
        NUMERICAL_ERROR,
        /** The user cancelled it. */
        CANCELLED,
        /** It failed on every delivery and was dead-lettered. */
        DEAD_LETTERED,
        /** A bug or an environment problem on the worker. */
        INTERNAL
    }

    public JobFailure {
        Checks.notNull("job_id", jobId);
        Checks.notBlank("worker_id", workerId, 200);
        Checks.notNull("code", code);
        Checks.notBlank("message", message, 2000);
        Checks.notNull("finished_at", finishedAt);
    }
}
