package org.diffusionbot.worker.engine.pipeline;

/**
 * Per-run hooks of {@link StableDiffusionPipeline#generate}. All methods are called on the
 * generating thread; the defaults do nothing.
 */
public interface PipelineCallbacks {
    /** No callbacks. */
    PipelineCallbacks NONE = new PipelineCallbacks() {};

    /** How previews are made. */
    enum PreviewMode {
        /** Latent → RGB linear projection, (h/8)×(w/8): practically free. */
        LATENT_RGB,
        /** The same, upscaled ×2 (nearest neighbour). */
        LATENT_RGB_X2,
        /** A full VAE decode of the x0 estimate: exact but as costly as a final decode. */
        VAE
    }

    /** Checked before every step; a request reported cancelled stays cancelled. */
    default boolean isCancelled(int request) {
        return false;
    }

    /**
     * Once per step, in order, with the step's state; nothing is copied to the host unless the view is asked for
     * data. With {@link PipelineOptions#asyncPreviews()} (the default) a step's callback comes one step late: after
     * the next step's work is queued (after that step's {@link #isCancelled} checks; the last step's before the
     * final decode), so the GPU computes while the callback waits for its data. A step after which every request
     * was found cancelled gets no callback.
     */
    default void onStep(StepView step) {}

    /**
     * Whether {@link #onStep} of this step will ask for a preview or the x0 estimate of {@code request}; asked
     * when the step's work is queued, for each running request. Where it says so, x0 is copied to the host ahead,
     * without waiting (on CUDA with the native library; {@link PipelineOptions#asyncPreviews()}); a read the
     * callbacks did not announce copies synchronously when it comes. Default: false.
     *
     * @param request index of the request in the run
     * @param step 1-based step number, as {@link StepView#step()}
     * @param totalSteps as {@link StepView#totalSteps()}
     */
    default boolean previewDue(int request, int step, int totalSteps) {
        return false;
    }

    /** How {@link StepView#preview} renders. */
    default PreviewMode previewMode() {
        return PreviewMode.LATENT_RGB;
    }
}
