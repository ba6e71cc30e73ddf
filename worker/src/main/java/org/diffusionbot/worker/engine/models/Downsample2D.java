package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * diffusers {@code Downsample2D}: stride-2 3x3 convolution; with padding 0 (the VAE encoder) the
 * input is first zero-padded by one on the right and bottom, as diffusers does.
 */
final class Downsample2D {
    private static final Shape PAD_RIGHT_BOTTOM = new Shape(0, 1, 0, 1);
    private final Conv2dLayer conv;
    private final boolean asymmetricPad;

    Downsample2D(Params p, String prefix, int channels, int padding) {
        conv = new Conv2dLayer(p, prefix + ".conv", channels, channels, 3, 2, padding);
        asymmetricPad = padding == 0;
    }

    /** Convolves (B, C, H, W) with stride 2; the zero-padded copy (asymmetric padding) is freed. */
    NDArray forward(NDArray x) {
        NDArray in = asymmetricPad ? x.pad(PAD_RIGHT_BOTTOM, 0) : x;
        NDArray y = conv.forward(in);
        if (in != x && in != y) {
            in.close();
        }
        return y;
    }
}
