package org.diffusionbot.worker.engine.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.BatchNorm;

/**
 * {@code torch.nn.GroupNorm} over (B, C, ...) inputs. DJL exposes no group norm, so the input is
 * viewed as (1, B*G, rest) and normalised by a training-mode batch norm (per-"channel" biased mean
 * and variance, exactly GroupNorm's statistics), then scaled and shifted per channel: 5 ops.
 */
final class GroupNormLayer {
    private final Params params;
    private final int groups;
    private final float eps;
    private final NDArray gamma;
    private final NDArray beta;

    GroupNormLayer(Params p, String prefix, int channels, int groups, double eps) {
        if (channels % groups != 0) {
            throw new IllegalArgumentException(prefix + ": " + channels + " channels not divisible by " + groups + " groups");
        }
        this.params = p;
        this.groups = groups;
        this.eps = (float) eps;
        this.gamma = p.get(prefix + ".weight", channels).reshape(channels, 1, 1);
        this.beta = p.get(prefix + ".bias", channels).reshape(channels, 1, 1);
    }

    /** @param x (B, C, H, W) */
    NDArray forward(NDArray x) {
        Shape s = x.getShape();
        long n = s.get(0) * groups;
        NDArray[] scratch = params.groupNormScratch(n);
        NDArray y = BatchNorm.batchNorm(x.reshape(1, n, -1), scratch[2], scratch[3], scratch[0], scratch[1], 1, 0f, eps, true)
                .head();
        return y.reshape(s).mul(gamma).add(beta);
    }
}
