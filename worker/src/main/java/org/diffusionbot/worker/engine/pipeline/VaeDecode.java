package org.diffusionbot.worker.engine.pipeline;

import static org.diffusionbot.worker.engine.Scalars.add;
import static org.diffusionbot.worker.engine.Scalars.clip;
import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.diffusionbot.worker.engine.cuda.CudaGraphRunner;
import org.diffusionbot.worker.engine.cuda.GraphPool;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.models.AutoencoderKL;

/**
 * The VAE decode as the pipeline runs it, latents to 8-bit RGB on the device, as diffusers' {@code
 * vae.decode(latents / scaling_factor)} and {@code numpy_to_pil}: scale, cast to the VAE's type, decode, then
 * round(255·clamp(v/2 + 0.5, 0, 1)) in HWC order, with each image's max |v| (NaN and Inf propagate: the finiteness
 * check). Through CUDA graphs where they are on ({@link CudaGraphRunner}: one graph per latent shape, sharing the
 * pipeline's {@link GraphPool} with the UNet's), so a decode is one launch instead of a few hundred JNI calls and
 * kernel launches (SD 1.5's 512x512 decode took ~8.9 ms of host time for ~6 ms of GPU work; on an H200, once {@code
 * Scalars.clip} had removed DJL's clip waits, 6.2 ms through the graph against 6.6 ms eager: docs/GPU.md).
 *
 * <p>Memory: a graph allocates nothing when it replays, so the peak of allocated memory is that of one eager decode
 * (its capture), and the graph keeps the decoder's working set in the shared pool for as long as it lives, where an
 * eager decode leaves it in the allocator's cache: about 0.5 GiB for one 512x512 image in float16, about 4 GiB for
 * one 1024x1024 image in float32 (SDXL's upcast VAE), estimates from the activations' sizes (the peak is a ResNet
 * block of the last up-block: its input of 256 channels at full size, its GroupNorm output and four tensors of 128
 * channels; {@link AutoencoderKL#decode}). The pool's free blocks serve the UNet's next capture and the other decode
 * shapes, so the graphs of several shapes cost about the largest one.
 *
 * <p>Not thread-safe, as the pipeline.
 */
public final class VaeDecode implements AutoCloseable {
    /**
     * Decoded images on the device.
     *
     * @param rgb (B, H, W, 3) uint8, row-major
     * @param peak (B) float32: each image's max |v| of the decoder output, NaN or Inf where it held one
     */
    public record Bytes(NDArray rgb, NDArray peak) {}

    private final AutoencoderKL vae;
    private final CudaGraphRunner graphs;

    /**
     * @param vae the model's VAE
     * @param device where it runs
     * @param graphs whether its decodes go through CUDA graphs where they can ({@code SD_CUDA_GRAPHS} and {@code
     *     SD_VAE_GRAPHS} not 0: {@link PipelineOptions#vaeGraphsWanted()}); only on CUDA with the native library
     * @param maxGraphs how many latent shapes keep a graph ({@code SD_CUDA_GRAPHS_MAX})
     * @param pool the memory pool its graphs share (the pipeline's)
     */
    public VaeDecode(AutoencoderKL vae, Device device, boolean graphs, int maxGraphs, GraphPool pool) {
        this.vae = vae;
        this.graphs = new CudaGraphRunner("the VAE decoder", device, graphs, maxGraphs, pool, this::forward);
    }

    /**
     * Decodes latents to bytes on the device.
     *
     * @param caller owner of the results
     * @param latents (B, latent_channels, h, w) float32, not yet divided by the scaling factor; never written
     * @return (B, 8h, 8w, 3) bytes and (B) peaks; through a graph, views of its static outputs, valid until the next
     *     call of a graph of its pool (the next decode, or the UNet's next step): copy them, or read them on the host,
     *     before that
     */
    public Bytes decode(NDManager caller, NDArray latents) {
        NDArray[] out = graphs.run(caller, latents);
        return new Bytes(out[0], out[1]);
    }

    /** @return the model it decodes with */
    public AutoencoderKL vae() {
        return vae;
    }

    /** The graphs ({@link CudaGraphRunner#enabled()}, and off/on for the bench's check). */
    public CudaGraphRunner graphs() {
        return graphs;
    }

    /** The decode as a graph captures it: {scaled, cast, decoded, converted}; the decoded image freed here. */
    private NDArray[] forward(NDManager owner, NDArray[] in) {
        try (NDManager s = owner.newSubManager()) {
            NDArray scaled = div(in[0], (float) vae.config().scalingFactor());
            scaled.attach(s);
            NDArray[] out = toBytes(vae.decode(s, scaled.toType(vae.dtype(), false)));
            for (NDArray a : out) {
                a.attach(owner);
            }
            return out;
        }
    }

    /**
     * Decoder output (B, 3, H, W) in [-1, 1] → {(B, H, W, 3) uint8 row-major, (B) max |v| float32}, computed where the
     * tensor lives: on a GPU only the bytes and one float per image then come back, and the GPU is not left idle while
     * the host converts millions of floats. Both results belong to the decoder output's manager.
     */
    static NDArray[] toBytes(NDArray decoded) {
        int b = (int) decoded.getShape().get(0);
        NDManager owner = decoded.getManager();
        try (NDManager m = owner.newSubManager()) {
            // a float32 output is its own float32 view (toType without copy): then it must stay with its owner
            NDArray f = decoded.toType(DataType.FLOAT32, false);
            if (f != decoded) {
                f.attach(m);
            }
            NDArray rgb = mul(clip(add(div(f, 2f), 0.5f), 0f, 1f), 255f).round().toType(DataType.UINT8, false)
                    .transpose(0, 2, 3, 1);
            if (NativeOps.enabled() && rgb.getDevice().isGpu()) {
                // HWC order made on the device: DJL's host copy of the strided view copies it as it is and then
                // reorders it on the host, one thread (4 ms for a 1024x1024 image on the H200's host)
                rgb = NativeOps.wrap(rgb, NativeOps.contiguous(NativeOps.h(rgb)));
            }
            NDArray peak = f.abs().reshape(b, -1).max(new int[] {1});
            rgb.attach(owner);
            peak.attach(owner);
            return new NDArray[] {rgb, peak};
        }
    }

    @Override
    public void close() {
        graphs.close();
    }
}
