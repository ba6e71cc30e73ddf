package org.diffusionbot.worker.engine;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.function.BinaryOperator;

/**
 * Arithmetic of an array with a Java number that never makes the host wait for the GPU.
 *
 * <p>DJL's {@code NDArray.add/sub/mul/div/pow(Number)} create the number as a tensor on the array's
 * device ({@code PtNDArray}: {@code manager.create(n)}): on CUDA a host-to-device copy from pageable
 * memory, which PyTorch's {@code copy_} follows with {@code cudaStreamSynchronize}, so the host waits
 * for everything queued before it (in the denoising loop: the UNet of the step) and the GPU then idles
 * while the host queues the ops that follow. Measured on an H200 (issue 17's whole-image trace): six
 * such waits per step, ~0.4 ms of idle GPU per SD 1.5 step and ~1 ms per SDXL step. Here the number
 * is a 0-dim CPU tensor, which PyTorch hands to CUDA kernels as a scalar argument (no copy, no wait)
 * with the same type promotion as DJL's 0-dim device tensor (a 0-dim operand never widens the
 * array's type), so results are the same. On the CPU nothing changes.
 *
 * <p>{@code EngineRulesTest} keeps DJL's number overloads out of the worker's code: use these.
 */
public final class Scalars {
    private static final NDManager HOST = NDManager.newBaseManager(Device.cpu());

    private Scalars() {
    }

    /** {@code x + n}, as DJL's {@code x.add(n)}; the result belongs to x's manager. */
    public static NDArray add(NDArray x, Number n) {
        return apply(x, n, NDArray::add);
    }

    /** {@code x - n}, as DJL's {@code x.sub(n)}. */
    public static NDArray sub(NDArray x, Number n) {
        return apply(x, n, NDArray::sub);
    }

    /** {@code x · n}, as DJL's {@code x.mul(n)}. */
    public static NDArray mul(NDArray x, Number n) {
        return apply(x, n, NDArray::mul);
    }

    /** {@code x / n}, as DJL's {@code x.div(n)}. */
    public static NDArray div(NDArray x, Number n) {
        return apply(x, n, NDArray::div);
    }

    /** {@code x ^ n}, as DJL's {@code x.pow(n)}. */
    public static NDArray pow(NDArray x, Number n) {
        return apply(x, n, NDArray::pow);
    }

    /** Elementwise {@code max(x, n)}, as DJL's {@code x.maximum(n)}. */
    public static NDArray maximum(NDArray x, Number n) {
        return apply(x, n, NDArray::maximum);
    }

    /** Elementwise {@code min(x, n)}, as DJL's {@code x.minimum(n)}. */
    public static NDArray minimum(NDArray x, Number n) {
        return apply(x, n, NDArray::minimum);
    }

    /**
     * {@code x} clamped to [lo, hi] elementwise (NaN stays NaN), as DJL's {@code x.clip(lo, hi)} and PyTorch's {@code
     * torch.clamp}: as {@code min(max(x, lo), hi)}. DJL's clip makes both bounds tensors on the array's device and reads
     * them back ({@code item()}): on CUDA two copies and two waits for the GPU, and an error inside a CUDA graph capture
     * (the VAE decode's byte conversion failed its capture so).
     */
    public static NDArray clip(NDArray x, Number lo, Number hi) {
        try (NDArray low = maximum(x, lo)) {
            return minimum(low, hi);
        }
    }

    /** {@code x >= n} (boolean), as DJL's {@code x.gte(n)}. */
    public static NDArray gte(NDArray x, Number n) {
        return apply(x, n, NDArray::gte);
    }

    /** {@code op(x, n)} with n as a 0-dim CPU tensor, freed afterwards. */
    private static NDArray apply(NDArray x, Number n, BinaryOperator<NDArray> op) {
        try (NDArray s = HOST.create(n)) {
            return op.apply(x, s);
        }
    }
}
