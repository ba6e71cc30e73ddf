package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.core.Linear;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/** {@code torch.nn.Linear}: y = x W^T + b over the last axis, one fused op. */
final class LinearLayer {
    final NDArray weight;
    final NDArray bias;

    LinearLayer(NDArray weight, NDArray bias) {
        this.weight = weight;
        this.bias = bias;
    }

    LinearLayer(Params p, String prefix, int in, int out, boolean bias) {
        this(p.get(prefix + ".weight", out, in), bias ? p.get(prefix + ".bias", out) : null);
    }

    NDArray forward(NDArray x) {
        if (NativeOps.enabled()) { // DJL's linear adds the bias in a pass of its own for inputs of 3+ dimensions
            return NativeOps.wrap(x, NativeOps.linear(NativeOps.h(x), NativeOps.h(weight), NativeOps.h(bias)));
        }
        return bias == null ? Linear.linear(x, weight).head() : Linear.linear(x, weight, bias).head();
    }
}
