package org.diffusionbot.worker.engine.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import org.diffusionbot.worker.engine.cuda.EngineSettings;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.lora.LoraPatcher;

/**
 * How a {@link StableDiffusionPipeline} is loaded and runs, given when it is made (never read from the
 * environment by the loaders, the models, the pipeline or its LoRA patcher themselves).
 *
 * @param cudaGraphs whether the UNet (and with {@code vaeGraphs} the VAE decoder) runs through CUDA graphs where it
 *     can (on CUDA, native ops loaded; {@code SD_CUDA_GRAPHS} not 0)
 * @param cudaGraphsMax how many input shapes keep a captured CUDA graph, for the UNet and for the VAE decoder each
 *     ({@code SD_CUDA_GRAPHS_MAX}, at least 1)
 * @param vaeGraphs whether the VAE decode runs through CUDA graphs too, where the UNet's are on ({@code SD_VAE_GRAPHS}
 *     not 0; {@link #vaeGraphsWanted()}, {@link VaeDecode})
 * @param decodeBatch images per VAE decode call on CUDA at most ({@code SD_DECODE_BATCH}, default 1: one at a time, the
 *     least memory; measured on the H200 (docs/GPU.md item 2), 4 a call bought SD 1.5's 8 jobs 0.6–0.8% for about 2.2
 *     GiB more reserved): the finished latents of a batch are decoded in calls of that many (fewer for
 *     images larger than 512x512 or a float32 VAE, so a call's decoder memory stays that of as many 512x512 float16
 *     images: SDXL's 1024x1024 decodes one at a time; {@code LatentDecoder.imagesPerCall}); the CPU decodes one at a
 *     time
 * @param asyncPreviews whether each step's callback comes one step late, after the next step is queued, with x0
 *     copied to the host asynchronously on CUDA where a preview is due (the default since the step loop no longer
 *     waits for the GPU: previews every 5 steps cost 0.97% of an SD 1.5 job on the H200 this way, 2.2–3.5% inside
 *     their step; {@code SD_ASYNC_PREVIEWS=0}: the callback inside its step, x0 copied synchronously when read;
 *     {@link Denoiser})
 * @param channelsLast whether float16 UNet and VAE convolution weights (and so their activations) are kept
 *     channels-last on CUDA with the native library ({@code SD_CHANNELS_LAST} not 0; float32 parts stay NCHW: {@link
 *     #channelsLastFor})
 * @param loraCacheMb MiB of LoRA factors kept on the device ({@code SD_LORA_CACHE_MB}, default {@value
 *     LoraPatcher#CACHE_MB}; 0: none, each switch reads the files; {@link LoraPatcher})
 * @param promptKv whether each denoising loop projects the prompt's context into every cross-attention's k|v once,
 *     before its first step, and passes that prompt K|V to every UNet call ({@code
 *     UNet2DConditionModel.withPromptKv}, {@link Denoiser}), instead of each UNet call projecting it again ({@code
 *     SD_PROMPT_KV} not 0; the same values either way; with the library only where it has the k|v functions: {@code
 *     NativeOps.crossAttentionKvLinked})
 */
public record PipelineOptions(boolean cudaGraphs, int cudaGraphsMax, boolean vaeGraphs, int decodeBatch,
        boolean asyncPreviews, boolean channelsLast, int loraCacheMb, boolean promptKv) {
    /**
     * The defaults: CUDA graphs where possible (UNet and VAE decoder), at most 3 shapes each, one image per decode call,
     * asynchronous previews (each step's callback one step late), float16 parts channels-last (float32 ones NCHW),
     * {@value LoraPatcher#CACHE_MB} MiB of LoRA factors on the device, the prompt K|V made once per denoising loop.
     */
    public static final PipelineOptions DEFAULTS = new PipelineOptions(true, 3, true, 1, true, true,
            LoraPatcher.CACHE_MB, true);

    /** @throws IllegalArgumentException for {@code cudaGraphsMax} or {@code decodeBatch} below 1, or a negative cache */
    public PipelineOptions {
        if (cudaGraphsMax < 1 || decodeBatch < 1) {
            throw new IllegalArgumentException("cudaGraphsMax and decodeBatch must be at least 1");
        }
        if (loraCacheMb < 0) {
            throw new IllegalArgumentException("loraCacheMb must not be negative: " + loraCacheMb);
        }
    }

    /**
     * These CUDA-graph and decode settings with the defaults' VAE graphs, previews, layout, LoRA cache and prompt K|V.
     */
    public PipelineOptions(boolean cudaGraphs, int cudaGraphsMax, int decodeBatch) {
        this(cudaGraphs, cudaGraphsMax, DEFAULTS.vaeGraphs, decodeBatch, DEFAULTS.asyncPreviews, DEFAULTS.channelsLast,
                DEFAULTS.loraCacheMb, DEFAULTS.promptKv);
    }

    /**
     * The settings {@code SD_CUDA_GRAPHS}, {@code SD_CUDA_GRAPHS_MAX}, {@code SD_VAE_GRAPHS}, {@code
     * SD_DECODE_BATCH}, {@code SD_ASYNC_PREVIEWS}, {@code SD_CHANNELS_LAST}, {@code SD_LORA_CACHE_MB} and {@code
     * SD_PROMPT_KV} ({@link EngineSettings}, docs/GPU.md), read now; a number that is not one gives the default.
     */
    public static PipelineOptions fromSettings() {
        return new PipelineOptions(EngineSettings.onUnlessZero("SD_CUDA_GRAPHS"),
                EngineSettings.positiveInt("SD_CUDA_GRAPHS_MAX", DEFAULTS.cudaGraphsMax()),
                EngineSettings.onUnlessZero("SD_VAE_GRAPHS"),
                EngineSettings.positiveInt("SD_DECODE_BATCH", DEFAULTS.decodeBatch()),
                EngineSettings.onUnlessZero("SD_ASYNC_PREVIEWS"),
                EngineSettings.onUnlessZero("SD_CHANNELS_LAST"),
                EngineSettings.nonNegativeInt("SD_LORA_CACHE_MB", DEFAULTS.loraCacheMb()),
                EngineSettings.onUnlessZero("SD_PROMPT_KV"));
    }

    /** @return these options with {@link #asyncPreviews()} set to {@code on} */
    public PipelineOptions withAsyncPreviews(boolean on) {
        return new PipelineOptions(cudaGraphs, cudaGraphsMax, vaeGraphs, decodeBatch, on, channelsLast, loraCacheMb,
                promptKv);
    }

    /** @return these options with {@link #loraCacheMb()} set to {@code mb} */
    public PipelineOptions withLoraCacheMb(int mb) {
        return new PipelineOptions(cudaGraphs, cudaGraphsMax, vaeGraphs, decodeBatch, asyncPreviews, channelsLast, mb,
                promptKv);
    }

    /** @return these options with {@link #vaeGraphs()} set to {@code on} */
    public PipelineOptions withVaeGraphs(boolean on) {
        return new PipelineOptions(cudaGraphs, cudaGraphsMax, on, decodeBatch, asyncPreviews, channelsLast,
                loraCacheMb, promptKv);
    }

    /** @return these options with {@link #promptKv()} set to {@code on} */
    public PipelineOptions withPromptKv(boolean on) {
        return new PipelineOptions(cudaGraphs, cudaGraphsMax, vaeGraphs, decodeBatch, asyncPreviews, channelsLast,
                loraCacheMb, on);
    }

    /**
     * Whether the VAE decode is to run through CUDA graphs: {@link #vaeGraphs()} and {@link #cudaGraphs()} both
     * ({@code SD_CUDA_GRAPHS=0} turns every graph off); they are then used on CUDA with the native library.
     */
    public boolean vaeGraphsWanted() {
        return cudaGraphs && vaeGraphs;
    }

    /** @return {@link #loraCacheMb()} in bytes */
    public long loraCacheBytes() {
        return (long) loraCacheMb << 20;
    }

    /**
     * The layout of one model part, decided once when it is built: channels-last on CUDA with the native library
     * ({@link NativeOps#available()}) when {@link #channelsLast()} is on, for float16 parts only. The NHWC GroupNorm
     * and bias kernels are float16; a float32 part (SDXL's VAE under {@code force_upcast}) stays NCHW, where PyTorch's
     * {@code group_norm} (or its split statistics, {@code SD_FP32_GROUPNORM}) reads the layout directly, rather than
     * channels-last, where every GroupNorm would copy to NCHW and the next convolution back. (Session 8's float32 NHWC
     * kernels made SDXL's 1024x1024 decode no faster channels-last, 43.5 against 43.7 ms on the H200, and were removed:
     * docs/GPU.md.)
     *
     * @param dtype the part's parameter type
     * @param device the part's device
     * @return whether its convolution weights are stored channels-last
     */
    public boolean channelsLastFor(DataType dtype, Device device) {
        return channelsLast && device.isGpu() && NativeOps.available() && dtype == DataType.FLOAT16;
    }
}
