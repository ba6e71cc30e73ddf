package org.diffusionbot.worker.runtime;

import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.WorkerHeartbeat;

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
     * @param batch jobs with equal keys, each {@link #prepare}d by this generator
     * @param cancelled checked at every step; a cancelled job stops at the next step
     */
    List<JobOutcome> generate(List<PreparedJob> batch, ProgressListener progress, Predicate<UUID> cancelled)
            throws Exception;

    /** Each job {@link #prepare}d, in order (benchmarks, tests). */
    default List<PreparedJob> prepareAll(List<JobRequest> jobs) {
        return jobs.stream().map(this::prepare).toList();
    }

    /**
     * How many times this generator has switched its model's LoRA set so far (a monotonic count, for the
     * {@code diffusionbot_worker_lora_switches_total} metric); 0 for generators without LoRAs.
     */
    default long loraSwitches() {
        return 0;
    }

    /**
     * Makes a job ready, once: converted and tokenized for the engine, with its {@link BatchKey} (the
     * runtime batches only jobs with equal keys, {@link Batcher}; its prompt chunk count is how many
     * 75-token chunks the job's prompts, positive or negative, whichever is longer, encode to).
     * Generators without a text encoder keep the default: {@link PreparedJob#plain}, one chunk.
     */
    default PreparedJob prepare(JobRequest job) {
        return PreparedJob.plain(job);
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

    /** Per-step callback; previews are computed only when due. */
    interface ProgressListener {
        /** No previews, progress ignored (benchmarks, tests). */
        ProgressListener NONE = new ProgressListener() {
            @Override
            public boolean previewDue(UUID jobId, int step, int totalSteps) {
                return false;
            }

            @Override
            public void onStep(UUID jobId, int step, int totalSteps, Preview preview) {
            }
        };

        /**
         * Whether a preview of the job is due at this step: the one place that decides it (the
         * generator renders one exactly then, and {@link #onStep} publishes what it is given).
         */
        boolean previewDue(UUID jobId, int step, int totalSteps);

        /** @param preview the job's preview when {@link #previewDue}, else null */
        void onStep(UUID jobId, int step, int totalSteps, Preview preview);
    }

    /** An RGB preview image (interleaved bytes), or null on steps without one. */
    record Preview(int width, int height, byte[] rgb) {
    }
}
