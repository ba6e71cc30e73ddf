package org.diffusionbot.worker.engine.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Arrays;
import org.diffusionbot.worker.engine.cuda.HostCopy;

/**
 * What a {@link PipelineCallbacks#onStep} callback sees of one step: progress, and on demand a
 * request's x0 estimate, latents or preview image. Nothing is copied to the host unless asked; the
 * x0 estimates of every row come back at once, on the first preview of the step: from the step's
 * {@link HostCopy} when the step loop started one (a preview was due), else copied then (a sync).
 * Owns the step's arrays until {@link #close}.
 */
final class StepPreview implements StepView, AutoCloseable {
    /**
     * What stays the same for every step of a run.
     *
     * @param rows the run's rows
     * @param callbacks the run's callbacks (their preview mode)
     * @param sdxl whether the latents are SDXL's (the latent → RGB projection)
     * @param decoder the VAE, for full previews
     * @param timer times each preview rendered ({@link PhaseTimer#part} {@code preview}), or null
     */
    record Run(BatchRows rows, PipelineCallbacks callbacks, boolean sdxl, LatentDecoder decoder, PhaseTimer timer) {
    }

    private final Run run;
    private final int step;
    private final int total;
    private final float timestep;
    private final NDArray x0;
    private final NDArray latents;
    private final NDManager scope;
    private final HostCopy x0Copy;
    private float[] x0Host; // every row of x0, copied on the first preview of the step (one sync)

    /**
     * @param step steps done (1 after the first)
     * @param total steps of the run
     * @param timestep the step's timestep
     * @param x0 the denoised estimate (rows, C, h, w)
     * @param latents the latents after the step
     * @param scope the step's manager (closed by {@link #close})
     * @param x0Copy x0 on its way to the host (closed by {@link #close}), or null: copied when first read
     */
    StepPreview(Run run, int step, int total, float timestep, NDArray x0, NDArray latents, NDManager scope,
            HostCopy x0Copy) {
        this.run = run;
        this.step = step;
        this.total = total;
        this.timestep = timestep;
        this.x0 = x0;
        this.latents = latents;
        this.scope = scope;
        this.x0Copy = x0Copy;
    }

    /** Frees the step's arrays and its host copy. */
    @Override
    public void close() {
        try {
            if (x0Copy != null) {
                x0Copy.close();
            }
        } finally {
            scope.close();
        }
    }

    @Override
    public int step() {
        return step;
    }

    @Override
    public int totalSteps() {
        return total;
    }

    @Override
    public float timestep() {
        return timestep;
    }

    @Override
    public boolean isActive(int request) {
        return run.rows().isActive(request);
    }

    private float[] x0Row(int row) {
        if (x0Host == null) {
            x0Host = x0Copy != null ? x0Copy.floats() : x0.toType(DataType.FLOAT32, false).toFloatArray();
        }
        int per = x0Host.length / (int) x0.getShape().get(0);
        return Arrays.copyOfRange(x0Host, row * per, (row + 1) * per);
    }

    private float[] rowOf(NDArray a, int row) {
        try (NDManager m = scope.newSubManager()) {
            NDArray r = a.get(row);
            r.attach(m);
            return r.toType(DataType.FLOAT32, false).toFloatArray();
        }
    }

    @Override
    public float[] x0(int request, int image) {
        return x0Row(run.rows().row(request, image));
    }

    @Override
    public float[] latents(int request, int image) {
        return rowOf(latents, run.rows().row(request, image));
    }

    @Override
    public RgbImage preview(int request, int image) {
        int row = run.rows().row(request, image);
        int lh = (int) x0.getShape().get(2);
        int lw = (int) x0.getShape().get(3);
        // a profiler range (and the timer's part) "preview": the host copy of x0 (or its wait) and the rendering
        try (PhaseTimer.Span p = PhaseTimer.part(run.timer(), "preview")) {
            return switch (run.callbacks().previewMode()) {
                case LATENT_RGB -> LatentPreview.render(run.sdxl(), x0Row(row), lh, lw, 1);
                case LATENT_RGB_X2 -> LatentPreview.render(run.sdxl(), x0Row(row), lh, lw, 2);
                case VAE -> run.decoder().preview(scope, x0, row);
            };
        }
    }
}
