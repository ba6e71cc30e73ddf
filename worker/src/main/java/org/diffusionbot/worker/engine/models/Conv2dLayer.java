package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;

/** {@code torch.nn.Conv2d} with square kernel, one fused op. */
final class Conv2dLayer {
    private final NDArray weight;
    private final NDArray bias;
    private final Shape stride;
    private final Shape padding;
    private static final Shape DILATION = new Shape(1, 1);

    Conv2dLayer(Params p, String prefix, int in, int out, int kernel, int stride, int padding) {
        this.weight = p.convWeight(prefix + ".weight", out, in, kernel, kernel);
        this.bias = p.get(prefix + ".bias", out);
        this.stride = new Shape(stride, stride);
        this.padding = new Shape(padding, padding);
    }

    /** A stride-1 convolution with "same" padding. */
    Conv2dLayer(Params p, String prefix, int in, int out, int kernel) {
        this(p, prefix, in, out, kernel, 1, (kernel - 1) / 2);
    }

    NDArray forward(NDArray x) {
        return Conv2d.conv2d(x, weight, bias, stride, padding, DILATION, 1).head();
    }
}
