package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * {@code torch.nn.LayerNorm} over the last axis, one fused op: with the native library our kernel for fp16 on
 * CUDA ({@link NativeOps#layerNorm}), else DJL's (PyTorch's) layer_norm.
 */
final class LayerNormLayer {
    final NDArray gamma;
    final NDArray beta;
    private final Shape shape;
    private final float eps;

    LayerNormLayer(Params p, String prefix, int dim, double eps) {
        this.gamma = p.get(prefix + ".weight", dim);
        this.beta = p.get(prefix + ".bias", dim);
        this.shape = new Shape(dim);
        this.eps = (float) eps;
    }

    NDArray forward(NDArray x) {
        if (NativeOps.enabled()) {
            return NativeOps.layerNorm(x, gamma, beta, eps);
        }
        return LayerNorm.layerNorm(x, shape, gamma, beta, eps).head();
    }

    /**
     * A residual add and this norm: {@code {s = x + d, forward(s)}}, in one kernel pass with the native library
     * ({@link NativeOps#addLayerNorm}).
     */
    NDArray[] addForward(NDArray x, NDArray d) {
        if (NativeOps.enabled()) {
            return NativeOps.addLayerNorm(x, d, gamma, beta, eps);
        }
        NDArray s = x.add(d);
        return new NDArray[] {s, forward(s)};
    }

    /**
     * This norm without its affine, as FP8 for an {@link Fp8Linear} (which holds γ and β folded into its weight):
     * {@code e4m3((x − mean)·rstd·scale)} as e4m3 bytes (DJL's UINT8), x (..., C) fp16 on CUDA. Needs the library
     * ({@link NativeOps#layerNormFp8}).
     *
     * @param scale the companion's {@link Fp8Linear#inputScale}
     * @return (..., C) UINT8
     */
    NDArray forwardFp8(NDArray x, double scale) {
        return NativeOps.layerNormFp8(x, null, eps, scale)[1];
    }

    /**
     * {@link #addForward} with the norm's output as {@link #forwardFp8} writes it: {@code {s = x + d (fp16), e4m3 bytes
     * of (s − mean)·rstd·scale}}, in one kernel pass. Needs the library.
     */
    NDArray[] addForwardFp8(NDArray x, NDArray d, double scale) {
        return NativeOps.layerNormFp8(x, d, eps, scale);
    }
}
