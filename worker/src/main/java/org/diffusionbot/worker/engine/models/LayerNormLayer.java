package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;

/** {@code torch.nn.LayerNorm} over the last axis, one fused op. */
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
        return LayerNorm.layerNorm(x, shape, gamma, beta, eps).head();
    }
}
