package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;

/** diffusers {@code Upsample2D}: nearest-neighbour upsampling followed by a 3x3 convolution. */
final class Upsample2D {
    private final Conv2dLayer conv;

    Upsample2D(Params p, String prefix, int channels) {
        conv = new Conv2dLayer(p, prefix + ".conv", channels, channels, 3);
    }

    /** Upsamples (B, C, H, W) to (B, C, h, w) (normally 2H, 2W) and convolves; the upsampled copy is freed. */
    NDArray forward(NDArray x, long h, long w) {
        NDArray up = Ops.upsampleNearest(x, h, w);
        NDArray y = conv.forward(up);
        if (up != x && up != y) {
            up.close();
        }
        return y;
    }
}
