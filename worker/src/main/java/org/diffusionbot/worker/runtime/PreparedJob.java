package org.diffusionbot.worker.runtime;

import java.util.Objects;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.worker.engine.pipeline.BatchKey;
import org.diffusionbot.worker.engine.pipeline.PreparedRequest;

/**
 * A job made ready by its model's generator once, when the job arrives (or its model is loaded):
 * what the batcher compares and what the generator runs ({@link ImageGenerator#prepare}).
 *
 * @param job the job
 * @param key its batch key ({@link Batcher})
 * @param request the engine's request, converted and tokenized ({@link DiffusionGenerator}); null for
 *     generators without the engine, and for a job that could not be prepared (it runs alone)
 */
public record PreparedJob(JobRequest job, BatchKey key, PreparedRequest request) {
    public PreparedJob {
        Objects.requireNonNull(job, "job");
        Objects.requireNonNull(key, "key");
    }

    /** A job of a generator without the engine: the key of a one-chunk prompt ({@link Batcher#keyOf}). */
    public static PreparedJob plain(JobRequest job) {
        return new PreparedJob(job, Batcher.keyOf(job, 1), null);
    }

    /** A job batched with no other (one that could not be prepared, or for a model not served here). */
    public static PreparedJob alone(JobRequest job) {
        return new PreparedJob(job, BatchKey.alone(), null);
    }
}
