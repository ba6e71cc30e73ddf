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

    /**
     * The layer and the residual add after it: {@code residual + (x W^T + b)}, residual (..., out) in the output's
     * shape (diffusers' {@code ff_output + hidden_states}, {@code proj_out(hidden_states) + residual}). With
     * {@link NativeOps} one cuBLASLt product adds bias and residual itself where it can
     * ({@link NativeOps#linearResidual(NDArray, NDArray, NDArray, NDArray)}); otherwise {@link #forward} and an add.
     *
     * @param x (..., in)
     * @param residual (..., out), x's leading shape; any layout (the fused product needs contiguous rows, else it takes
     *     the product and an add)
     * @return (..., out), a new array on x's manager
     * @throws ai.djl.engine.EngineException where the shapes do not fit (from the product or the add)
     */
    NDArray forwardAdd(NDArray x, NDArray residual) {
        if (NativeOps.enabled()) {
            return NativeOps.linearResidual(x, weight, bias, residual);
        }
        return residual.add(forward(x));
    }
}
