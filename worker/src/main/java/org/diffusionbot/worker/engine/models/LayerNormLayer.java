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
    private final NDArray gamma;
    private final NDArray beta;
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
}
