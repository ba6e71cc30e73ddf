package org.diffusionbot.worker.engine.pipeline;

import org.diffusionbot.worker.engine.cuda.EngineSettings;

/**
 * How a {@link StableDiffusionPipeline} runs, given when it is made (never read from the environment
 * by the pipeline itself).
 *
 * @param cudaGraphs whether the UNet runs through CUDA graphs where it can (on CUDA, native ops loaded; {@code
 *     SD_CUDA_GRAPHS} not 0)
 * @param cudaGraphsMax how many UNet input shapes keep a captured CUDA graph ({@code SD_CUDA_GRAPHS_MAX}, at least 1)
 * @param decodeBatch images per VAE decode call on CUDA ({@code SD_DECODE_BATCH}, at least 1; the CPU decodes one
 *     at a time)
 * @param asyncPreviews whether each step's callback comes one step late, after the next step is queued, with x0
 *     copied to the host asynchronously on CUDA where a preview is due ({@code SD_ASYNC_PREVIEWS} not 0; off: the
 *     callback inside its step, x0 copied synchronously when read; {@link Denoiser})
 */
public record PipelineOptions(boolean cudaGraphs, int cudaGraphsMax, int decodeBatch, boolean asyncPreviews) {
    /** The defaults: CUDA graphs where possible, at most 3, one image per decode, asynchronous previews. */
    public static final PipelineOptions DEFAULTS = new PipelineOptions(true, 3, 1, true);

    /** @throws IllegalArgumentException for a value below 1 */
    public PipelineOptions {
        if (cudaGraphsMax < 1 || decodeBatch < 1) {
            throw new IllegalArgumentException("cudaGraphsMax and decodeBatch must be at least 1");
        }
    }

    /** These CUDA-graph and decode settings with asynchronous previews. */
    public PipelineOptions(boolean cudaGraphs, int cudaGraphsMax, int decodeBatch) {
        this(cudaGraphs, cudaGraphsMax, decodeBatch, DEFAULTS.asyncPreviews);
    }

    /**
     * The {@code SD_CUDA_GRAPHS}, {@code SD_CUDA_GRAPHS_MAX}, {@code SD_DECODE_BATCH} and {@code SD_ASYNC_PREVIEWS}
     * settings ({@link EngineSettings}, docs/GPU.md), read now.
     */
    public static PipelineOptions fromSettings() {
        return new PipelineOptions(EngineSettings.onUnlessZero("SD_CUDA_GRAPHS"),
                EngineSettings.positiveInt("SD_CUDA_GRAPHS_MAX", DEFAULTS.cudaGraphsMax()),
                EngineSettings.positiveInt("SD_DECODE_BATCH", DEFAULTS.decodeBatch()),
                EngineSettings.onUnlessZero("SD_ASYNC_PREVIEWS"));
    }

    /** @return these options with {@link #asyncPreviews()} set to {@code on} */
    public PipelineOptions withAsyncPreviews(boolean on) {
        return new PipelineOptions(cudaGraphs, cudaGraphsMax, decodeBatch, on);
    }
}
