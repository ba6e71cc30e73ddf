package org.diffusionbot.worker.engine.pipeline;

import static org.diffusionbot.worker.engine.Scalars.add;
import static org.diffusionbot.worker.engine.Scalars.div;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayDeque;
import org.diffusionbot.worker.engine.cuda.CudaGraphUNet;
import org.diffusionbot.worker.engine.cuda.HostCopy;
import org.diffusionbot.worker.engine.cuda.KernelProfiler;
import org.diffusionbot.worker.engine.cuda.StepFence;
import org.diffusionbot.worker.engine.models.Conditioning;
import org.diffusionbot.worker.engine.schedulers.NoiseSource;
import org.diffusionbot.worker.engine.schedulers.Scheduler;
import org.diffusionbot.worker.engine.schedulers.StepResult;

/**
 * The denoising phase, diffusers' step loop: per step the scheduler scales the latents, the UNet
 * (through {@link CudaGraphUNet}) predicts the noise of the negative and positive rows (the positive
 * alone when no row guides), guidance combines them ({@code eps_neg + cfg·(eps_pos − eps_neg)} with
 * each row's cfg, then {@link #rescaleNoiseCfg} where a row asks), and the scheduler steps. Latents,
 * guidance and scheduler arithmetic are float32; the UNet's input is cast to the model dtype and its
 * output back. All timesteps go to the device once: nothing is copied to the host inside the loop
 * unless a callback asks, and scalar arithmetic never waits for the GPU ({@code Scalars}); the host stays at most
 * {@link #MAX_STEPS_AHEAD} steps ahead of the GPU ({@link StepFence}). Stops early once every request is done or
 * cancelled.
 *
 * <p>Callbacks (with {@code oneStepLate}, {@link PipelineOptions#asyncPreviews()}): step k's {@link
 * PipelineCallbacks#onStep} comes after step k+1's work is queued, the last step's after the loop, so the GPU
 * works on k+1 while the callback waits for step k's data. Where {@link PipelineCallbacks#previewDue} announces
 * a read of x0 at step k (a latent preview), x0 of every row goes to pinned host memory without waiting
 * ({@link HostCopy}, on CUDA with the native library) when step k is queued; without it (CPU, no library) x0
 * is copied synchronously when read, in the same order. Step k's arrays and latents live until its callback
 * returns. A step after which every request is found cancelled gets no callback. Without {@code oneStepLate}
 * each callback comes inside its step, as before.
 *
 * <p>The prompt K|V ({@link PipelineOptions#promptKv()}): every cross-attention's k|v projection of the context is
 * made once, before the first step, and every UNet call of the loop reads it instead of projecting the context again
 * (SD 1.5 16, SDXL 70 products per call fewer; the same values).
 *
 * <p>Profiler ranges ({@link KernelProfiler}): {@code step} around each step's guidance and scheduler step (after
 * the UNet call, which is not in it), and {@code prompt_kv} around the prompt K|V's products.
 */
final class Denoiser {
    /**
     * Steps the host may have queued beyond the one the GPU is running ({@link StepFence}): nothing else in the loop
     * waits for the GPU, so progress, previews and cancellation stay within a step of it.
     */
    static final int MAX_STEPS_AHEAD = 2;

    /** Test hook: may replace the latents after a step (e.g. to force NaN). */
    @FunctionalInterface
    interface LatentsHook {
        NDArray apply(int stepIndex, NDArray latents, int[] requestOfRow);
    }

    private final CudaGraphUNet unet;
    private final DataType dtype;
    private final LatentsHook hook;
    private final boolean oneStepLate;
    private final boolean promptKv;

    /**
     * @param unet the UNet as the loop calls it
     * @param dtype the model's dtype (the UNet's input)
     * @param hook the test hook, or null
     * @param oneStepLate callbacks one step late, x0 copied ahead where previews are due ({@link
     *     PipelineOptions#asyncPreviews()})
     * @param promptKv whether the loop makes the prompt K|V once, before its first step ({@link
     *     PipelineOptions#promptKv()}: {@code UNet2DConditionModel.withPromptKv}), and passes it to every UNet call
     */
    Denoiser(CudaGraphUNet unet, DataType dtype, LatentsHook hook, boolean oneStepLate, boolean promptKv) {
        this.unet = unet;
        this.dtype = dtype;
        this.hook = hook;
        this.oneStepLate = oneStepLate;
        this.promptKv = promptKv;
    }

    /**
     * @param run owner of the run's arrays
     * @param sched the run's scheduler, its timesteps set
     * @param first the first step index (img2img skips the steps its strength leaves out)
     * @param cond the conditioning of the 2N (or N) UNet rows; with {@code promptKv}, its prompt K|V is made here,
     *     once, owned by {@code run} (so made after any LoRA patch of this batch, and gone with the run)
     * @param x the initial latents (N, C, h, w), float32, owned by {@code run}; closed here
     * @param preview what each step's callback sees ({@link StepPreview.Run})
     * @return the final latents, owned by {@code run}
     */
    NDArray denoise(NDManager run, Scheduler sched, int first, Conditioning cond, NDArray x, StepPreview.Run preview) {
        BatchRows rows = preview.rows();
        PipelineCallbacks cb = preview.callbacks();
        int n = rows.size();
        boolean useCfg = rows.useCfg();
        NDArray cfgT = run.create(rows.cfg(), new Shape(n, 1, 1, 1));
        NDArray rescaleT = useCfg && rows.anyRescale() ? run.create(rows.rescale(), new Shape(n, 1, 1, 1)) : null;
        NoiseSource noise = sched.isStochastic() ? NoiseSource.of(rows.generators()) : NoiseSource.NONE;
        float[] timesteps = sched.timesteps();
        int total = sched.numSteps() - first;
        // all timesteps on the device at once: no host-to-device copy (and sync) inside the loop
        NDArray timestepsOnDevice = run.create(timesteps);
        // every cross-attention's k|v of the context, once for the loop instead of in every UNet call (the same
        // products, made earlier); the same arrays at every step, which the UNet's CUDA graph copies at the first only
        Conditioning stepCond = cond;
        if (promptKv) {
            try (KernelProfiler.Range r = KernelProfiler.range("prompt_kv")) {
                stepCond = unet.unet().withPromptKv(run, cond);
            }
        }
        StepPreview pending = null; // a step whose callback waits for the next step to be queued
        ArrayDeque<StepFence> queued = new ArrayDeque<>(); // fences after the steps the GPU may not have done yet
        try {
            for (int i = first; i < sched.numSteps(); i++) {
                while (queued.size() >= MAX_STEPS_AHEAD) {
                    queued.removeFirst().await(); // the GPU has done step i-2 and works on i-1: queue step i
                }
                if (!rows.anyActive(cb)) {
                    return x; // every request cancelled: the pending step's callback is dropped (finally)
                }
                NDManager s = run.newSubManager(); // the step's arrays, closed with its view (or with run)
                NDArray in = sched.scaleModelInput(x, i);
                if (in != x) {
                    in.attach(s);
                }
                NDArray modelIn = useCfg ? NDArrays.concat(new NDList(in, in), 0) : in;
                NDArray t = timestepsOnDevice.get(i + ":" + (i + 1));
                t.attach(s);
                NDArray eps = unet.forward(s, modelIn.toType(dtype, false), t, stepCond).toType(DataType.FLOAT32,
                        false);
                StepResult res;
                try (KernelProfiler.Range r = KernelProfiler.range("step")) { // guidance + scheduler, after the UNet
                    NDArray guided;
                    if (useCfg) {
                        NDList halves = eps.split(2, 0);
                        guided = halves.get(0).add(halves.get(1).sub(halves.get(0)).mul(cfgT));
                        if (rescaleT != null) {
                            guided = rescaleNoiseCfg(guided, halves.get(1), rescaleT);
                        }
                    } else {
                        guided = eps;
                    }
                    res = sched.step(guided, i, x, noise);
                }
                NDArray prev = res.prevSample();
                if (hook != null) {
                    NDArray h = hook.apply(i, prev, rows.requestOfRow());
                    if (h != prev) {
                        h.attach(run);
                        prev.close();
                        prev = h;
                    }
                }
                NDArray before = x; // the latents the pending step's view shows
                x = prev;
                NDArray x0 = res.x0() == x ? x.duplicate() : res.x0();
                x0.attach(s); // freed with the step's view
                int step = i - first + 1;
                StepPreview view = new StepPreview(preview, step, total, timesteps[i], x0, x, s,
                        copyAhead(x0, step, total, preview));
                StepFence fence = StepFence.after(x);
                if (fence != null) {
                    queued.addLast(fence);
                }
                StepPreview late = pending;
                pending = view;
                if (late != null) {
                    deliver(cb, late); // step i's work is queued: the GPU runs it while this waits
                }
                before.close();
                if (!oneStepLate) {
                    pending = null;
                    deliver(cb, view);
                }
            }
            if (pending != null) {
                StepPreview last = pending;
                pending = null;
                deliver(cb, last);
            }
            return x;
        } finally {
            if (pending != null) {
                pending.close();
            }
            queued.forEach(StepFence::close);
        }
    }

    /** The step's callback, then its arrays freed. */
    private static void deliver(PipelineCallbacks cb, StepPreview view) {
        try {
            cb.onStep(view);
        } finally {
            view.close();
        }
    }

    /**
     * x0 on its way to the host when the callbacks announce a latent preview (or x0 read) of a running request at
     * this step and it can go without waiting (one step late, on CUDA with the library); else null.
     */
    private HostCopy copyAhead(NDArray x0, int step, int total, StepPreview.Run preview) {
        if (!oneStepLate || preview.callbacks().previewMode() == PipelineCallbacks.PreviewMode.VAE
                || !HostCopy.supported(x0)) {
            return null;
        }
        BatchRows rows = preview.rows();
        for (int r = 0; r < rows.requests().size(); r++) {
            if (rows.isActive(r) && preview.callbacks().previewDue(r, step, total)) {
                return HostCopy.start(x0);
            }
        }
        return null;
    }

    /**
     * diffusers' {@code rescale_noise_cfg}: g ← φ·g·std(pos)/std(g) + (1 − φ)·g per row, the standard
     * deviations (unbiased, as torch.std) over all but the batch axis.
     */
    static NDArray rescaleNoiseCfg(NDArray guided, NDArray positive, NDArray phi) {
        NDArray ratio = std(positive).div(std(guided));
        return guided.mul(phi.mul(ratio).add(add(phi.neg(), 1f)));
    }

    private static NDArray std(NDArray x) {
        long b = x.getShape().get(0);
        NDArray flat = x.reshape(b, -1);
        long n = flat.getShape().get(1);
        NDArray centred = flat.sub(flat.mean(new int[] {1}, true));
        return div(centred.mul(centred).sum(new int[] {1}), (float) (n - 1)).sqrt().reshape(b, 1, 1, 1);
    }
}
