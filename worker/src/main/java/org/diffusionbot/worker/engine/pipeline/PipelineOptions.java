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
 */
public record PipelineOptions(boolean cudaGraphs, int cudaGraphsMax, int decodeBatch) {
    /** The defaults: CUDA graphs where possible, at most 3, one image per decode. */
    public static final PipelineOptions DEFAULTS = new PipelineOptions(true, 3, 1);

    /** @throws IllegalArgumentException for a value below 1 */
    public PipelineOptions {
        if (cudaGraphsMax < 1 || decodeBatch < 1) {
            throw new IllegalArgumentException("cudaGraphsMax and decodeBatch must be at least 1");
        }
    }

    /** The {@code SD_CUDA_GRAPHS}, {@code SD_CUDA_GRAPHS_MAX} and {@code SD_DECODE_BATCH} settings ({@link EngineSettings}, docs/GPU.md). */
    public static PipelineOptions fromSettings() {
        return new PipelineOptions(EngineSettings.onUnlessZero("SD_CUDA_GRAPHS"),
                EngineSettings.positiveInt("SD_CUDA_GRAPHS_MAX", DEFAULTS.cudaGraphsMax()),
                EngineSettings.positiveInt("SD_DECODE_BATCH", DEFAULTS.decodeBatch()));
    }
}
