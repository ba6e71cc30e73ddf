package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * {@code torch.nn.Conv2d} with square kernel. With {@link NativeOps} the bias, and optionally a per-sample bias
 * and a residual, are added to the convolution's output in one pass ({@link NativeOps#conv2d}).
 */
final class Conv2dLayer {
    private final NDArray weight;
    private final NDArray bias;
    private final Shape stride;
    private final Shape padding;
    /** Whether the weight is stored channels-last ({@link Params#convWeight}: the part's layout). */
    private final boolean channelsLast;
    private static final Shape DILATION = new Shape(1, 1);

    Conv2dLayer(Params p, String prefix, int in, int out, int kernel, int stride, int padding) {
        this.weight = p.convWeight(prefix + ".weight", out, in, kernel, kernel);
        this.bias = p.get(prefix + ".bias", out);
        this.channelsLast = p.channelsLast();
        this.stride = new Shape(stride, stride);
        this.padding = new Shape(padding, padding);
    }

    /** A stride-1 convolution with "same" padding. */
    Conv2dLayer(Params p, String prefix, int in, int out, int kernel) {
        this(p, prefix, in, out, kernel, 1, (kernel - 1) / 2);
    }

    NDArray forward(NDArray x) {
        return forward(x, null, null);
    }

    /**
     * @param x (B, in, H, W)
     * @param perSample (B, out) added to every pixel of each sample and channel (a time embedding), or null
     * @param residual (B, out, H', W') added to the output, or null
     * @return conv(x) + bias (+ perSample) (+ residual), (B, out, H', W')
     */
    NDArray forward(NDArray x, NDArray perSample, NDArray residual) {
        if (NativeOps.enabled()) {
            return NativeOps.wrap(x, NativeOps.conv2d(NativeOps.h(x), NativeOps.h(weight), NativeOps.h(bias),
                    (int) stride.get(0), (int) padding.get(0), NativeOps.h(perSample), NativeOps.h(residual)));
        }
        NDArray y = Conv2d.conv2d(x, weight, bias, stride, padding, DILATION, 1).head();
        if (perSample != null) {
            y = y.add(perSample.reshape(perSample.getShape().get(0), perSample.getShape().get(1), 1, 1));
        }
        return residual == null ? y : y.add(residual);
    }

    /**
     * The convolution without its bias (a later kernel adds it: {@link GroupNormLayer#forwardSilu(NDArray, NDArray,
     * NDArray)}); needs {@link NativeOps}.
     */
    NDArray forwardWithoutBias(NDArray x) {
        return NativeOps.wrap(x, NativeOps.conv2d(NativeOps.h(x), NativeOps.h(weight), 0L, (int) stride.get(0),
                (int) padding.get(0), 0L, 0L));
    }

    /**
     * This 1x1 convolution (stride 1, no padding) of cat([x1, x2], 1) without the concatenation where {@link
     * NativeOps#catPartsFit} says so ({@link NativeOps#catConv1x1}: two matrix products on views of the weight's
     * columns); needs {@link NativeOps}.
     *
     * @param x1 (B, C1, H, W)
     * @param x2 (B, C2, H, W), C1 + C2 = in
     * @return conv(cat([x1, x2], 1)) + bias, (B, out, H, W)
     */
    NDArray forwardCat(NDArray x1, NDArray x2) {
        return NativeOps.catConv1x1(x1, x2, weight, bias);
    }

    /** The bias (out). */
    NDArray bias() {
        return bias;
    }

    /** The weight (out, in, k, k), channels-last where the model's convolutions are (its memory then KRSC). */
    NDArray weight() {
        return weight;
    }

    /** Whether the weight is stored channels-last (its memory then KRSC, as the FP8 companions read it). */
    boolean channelsLast() {
        return channelsLast;
    }

    /** Whether this is a 3x3 convolution with stride 1 and padding 1 (the FP8 kernel's only kind: {@link Fp8Conv}). */
    boolean is3x3Same() {
        Shape s = weight.getShape();
        return s.dimension() == 4 && s.get(2) == 3 && s.get(3) == 3 && stride.get(0) == 1 && stride.get(1) == 1
                && padding.get(0) == 1 && padding.get(1) == 1;
    }
}
