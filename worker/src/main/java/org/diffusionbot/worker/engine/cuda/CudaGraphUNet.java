package org.diffusionbot.worker.engine.cuda;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.diffusionbot.worker.engine.models.Conditioning;
import org.diffusionbot.worker.engine.models.UNet2DConditionModel;

/**
 * The UNet as the step loop calls it, through CUDA graphs ({@link CudaGraphRunner}): one graph per shape and type of
 * the latents, the timestep and the conditioning (SDXL's pooled embedding and time ids included), so one launch per
 * call instead of ~1,000 JNI calls and kernel launches. At most {@code maxGraphs} shapes keep a graph (least recently
 * used evicted). Needs {@link NativeOps} and a CUDA device; otherwise, or when graphs are not wanted ({@code
 * SD_CUDA_GRAPHS=0}), it simply calls the UNet. A capture that fails turns graphs off for this instance and falls
 * back to eager calls.
 *
 * <p>Not thread-safe: one caller at a time (the pipeline runs one batch at a time).
 */
public final class CudaGraphUNet implements AutoCloseable {
    private final UNet2DConditionModel unet;
    private final CudaGraphRunner graphs;

    /**
     * A UNet whose graphs have a memory pool of their own.
     *
     * @param unet the model
     * @param device where it runs (graphs only on CUDA)
     * @param wanted whether graphs are wanted ({@code SD_CUDA_GRAPHS} not 0, read by the caller); they are
     *     used only on CUDA with the native library loaded
     * @param maxGraphs how many input shapes keep a graph
     */
    public CudaGraphUNet(UNet2DConditionModel unet, Device device, boolean wanted, int maxGraphs) {
        this(unet, device, wanted, maxGraphs, new GraphPool());
    }

    /**
     * @param unet the model
     * @param device where it runs (graphs only on CUDA)
     * @param wanted whether graphs are wanted, as above
     * @param maxGraphs how many input shapes keep a graph
     * @param pool the memory pool its graphs share (the pipeline's, with the VAE decoder's graphs)
     */
    public CudaGraphUNet(UNet2DConditionModel unet, Device device, boolean wanted, int maxGraphs, GraphPool pool) {
        this.unet = unet;
        // inputs: sample, timestep, context, SDXL's text embeds and time ids (null for SD 1.x/2.x), the prompt K|V (or
        // null); the conditioning (2..5) unchanging: copied into a graph only when it is another array than last time
        this.graphs = new CudaGraphRunner("the UNet", device, wanted, maxGraphs, pool, (owner, in) -> new NDArray[] {
            unet.forward(owner, in[0], in[1], new Conditioning(in[2], in[3], in[4], in[5]))},
                new boolean[] {false, false, true, true, true, true});
    }

    /** Whether calls go through CUDA graphs. */
    public boolean enabled() {
        return graphs.enabled();
    }

    /** Turns graphs off (eager calls) or back on where possible; off releases the captured graphs. */
    public void setEnabled(boolean on) {
        graphs.setEnabled(on);
    }

    /** The wrapped model. */
    public UNet2DConditionModel unet() {
        return unet;
    }

    /** Releases every captured graph (and the memory pool, unless the VAE decoder's graphs still use it). */
    public void clearGraphs() {
        graphs.clear();
    }

    /** Number of shapes with a captured graph. */
    public int graphCount() {
        return graphs.graphCount();
    }

    /**
     * Same contract as {@link UNet2DConditionModel#forward(NDManager, NDArray, NDArray, NDArray)}; with
     * graphs the result is a view of the graph's static output, valid until the next call of a graph of its pool:
     * consume (copy or convert) it before that.
     */
    public NDArray forward(NDManager caller, NDArray sample, NDArray timestep, NDArray context) {
        return forward(caller, sample, timestep, Conditioning.of(context));
    }

    /**
     * Same contract as {@link UNet2DConditionModel#forward(NDManager, NDArray, NDArray, Conditioning)}
     * (SDXL's pooled embedding and time ids included); with graphs the result is a view of the graph's
     * static output, valid until the next call of a graph of its pool (this UNet's, the VAE decoder's). One graph per
     * shape and type of sample, timestep and conditioning (its prompt K|V included: {@link
     * UNet2DConditionModel#withPromptKv}). FP8 companions a LoRA switch left stale are recomputed first ({@link
     * UNet2DConditionModel#refreshFp8IfStale}), outside any capture.
     *
     * <p>The conditioning's arrays are never modified in place (the step loop makes them once per denoising loop): a
     * graph copies them into its static inputs only when they are other arrays than those it copied last (the same
     * conditioning at every step of a loop: copied at its first step only; a new prompt, even of the same shapes:
     * copied).
     */
    public NDArray forward(NDManager caller, NDArray sample, NDArray timestep, Conditioning cond) {
        unet.refreshFp8IfStale(); // FP8 companions behind a LoRA switch: recomputed here, never inside a capture
        return graphs.run(caller, sample, timestep, cond.context(), cond.textEmbeds(), cond.timeIds(),
                cond.promptKv())[0];
    }

    @Override
    public void close() {
        graphs.close();
    }
}
