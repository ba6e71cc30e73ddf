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

    /** After every scheduler step; nothing is copied to the host unless the view is asked for data. */
    default void onStep(StepView step) {}

    /** How {@link StepView#preview} renders. */
    default PreviewMode previewMode() {
        return PreviewMode.LATENT_RGB;
    }
}
