package org.diffusionbot.worker.engine.pipeline;

/**
 * The state after one scheduler step, valid only during {@link PipelineCallbacks#onStep}. The
 * accessors copy data to the host (a device sync) when called, and only then.
 */
public interface StepView {
    /** 1-based step number of this run (img2img counts only the steps it runs). */
    int step();

    /** Steps this run takes (PNDM's extra warm-up step included). */
    int totalSteps();

    /** The UNet timestep of this step. */
    float timestep();

    /** Whether the request is still being generated (not cancelled, not failed). */
    boolean isActive(int request);

    /** A preview of the x0 estimate of one image, per {@link PipelineCallbacks#previewMode()}. */
    RgbImage preview(int request, int image);

    /** The x0 estimate (4, h/8, w/8) of one image, float32 row-major. */
    float[] x0(int request, int image);

    /** The latents (4, h/8, w/8) after this step, float32 row-major. */
    float[] latents(int request, int image);
}
