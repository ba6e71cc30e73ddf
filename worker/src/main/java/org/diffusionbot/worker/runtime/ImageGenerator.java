package org.diffusionbot.worker.runtime;

import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.worker.engine.pipeline.BatchKey;

/**
 * What the worker runtime needs of an image pipeline: run a batch of jobs with equal {@link BatchKey}s
 * ({@link Batcher}) and report each job's outcome. Implementations: the diffusion engine,
 * and {@link SyntheticGenerator} for plumbing tests and benchmarks.
 */
public interface ImageGenerator extends AutoCloseable {

    /** The device it runs on, for heartbeats (e.g. {@code cuda:0}, {@code cpu}). */
    String device();

    /**
     * Runs the jobs together. Must not throw for a problem of one job (return {@link JobOutcome.Failed}
     * for it); a thrown exception means the whole batch should be retried elsewhere (transient).
     *
     * @param cancelled checked at every step; a cancelled job stops at the next step
     */
    List<JobOutcome> generate(List<JobRequest> batch, ProgressListener progress, Predicate<UUID> cancelled)
            throws Exception;

    /**
     * How many times this generator has switched its model's LoRA set so far (a monotonic count, for the
     * {@code diffusionbot_worker_lora_switches_total} metric); 0 for generators without LoRAs.
     */
    default long loraSwitches() {
        return 0;
    }

    /**
     * The job's {@link BatchKey}: the runtime batches only jobs with equal keys ({@link Batcher}). Its
     * prompt chunk count is how many 75-token chunks the job's prompts (positive or negative, whichever
     * is longer) encode to; generators without a text encoder keep the default, 1.
     */
    default BatchKey batchKey(JobRequest job) {
        return Batcher.keyOf(job, 1);
    }

    /**
     * What the heartbeat says about the model: family and native size (default: SD 1.x at 512×512,
     * for generators without a real model).
     */
    default WorkerHeartbeat.ModelInfo modelInfo(String modelName) {
        return new WorkerHeartbeat.ModelInfo(modelName, ModelFamily.SD1.id(), 512, 512);
    }

    /** Whether it runs the image safety check (announced in heartbeats): see {@link SafetyCheckingGenerator}. */
    default boolean checksImages() {
        return false;
    }

    @Override
    default void close() {
    }

    /** Per-step callback; previews are computed only when asked for. */
    interface ProgressListener {
        /** Whether the caller wants a preview at this step (so the generator can skip computing one). */
        boolean wantsPreview(int step, int totalSteps);

        void onStep(UUID jobId, int step, int totalSteps, Preview preview);
    }

    /** An RGB preview image (interleaved bytes), or null on steps without one. */
    record Preview(int width, int height, byte[] rgb) {
    }
}
