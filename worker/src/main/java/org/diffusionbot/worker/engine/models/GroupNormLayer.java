package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.BatchNorm;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * {@code torch.nn.GroupNorm} over (B, C, ...) inputs. DJL exposes no group norm, so the input is
 * viewed as (1, B*G, rest) and normalised by a training-mode batch norm (per-"channel" biased mean
 * and variance, exactly GroupNorm's statistics), then scaled and shifted per channel: 5 ops. With
 * {@link NativeOps} it is one {@code at::group_norm} call (SiLU fused in {@link #forwardSilu}).
 */
final class GroupNormLayer {
    private final Params params;
    private final int groups;
    private final float eps;
    private final NDArray gamma;
    private final NDArray beta;
    private final NDArray gamma1;
    private final NDArray beta1;

    GroupNormLayer(Params p, String prefix, int channels, int groups, double eps) {
        if (channels % groups != 0) {
            throw new IllegalArgumentException(prefix + ": " + channels + " channels not divisible by " + groups + " groups");
        }
        this.params = p;
        this.groups = groups;
        this.eps = (float) eps;
        this.gamma1 = p.get(prefix + ".weight", channels);
        this.beta1 = p.get(prefix + ".bias", channels);
        this.gamma = gamma1.reshape(channels, 1, 1);
        this.beta = beta1.reshape(channels, 1, 1);
    }

    /** SiLU(GroupNorm(x)), one native call when {@link NativeOps} is on. */
    NDArray forwardSilu(NDArray x) {
        if (NativeOps.enabled()) {
            return NativeOps.groupNorm(x, groups, gamma1, beta1, eps, true);
        }
        return Ops.silu(forward(x));
    }

    /**
     * SiLU(GroupNorm(x + bias + perSample)) in one native call ({@link NativeOps#biasGroupNorm}: the addition inside the
     * norm's kernels, summed and rounded to x's type as {@link Conv2dLayer#forward(NDArray, NDArray, NDArray)} adds
     * them). Needs {@link NativeOps}; x may be overwritten.
     *
     * @param x (B, C, H, W): a convolution's output without its bias
     * @param bias (C), or null
     * @param perSample (B, C) or (1, C) (a time embedding), or null
     */
    NDArray forwardSilu(NDArray x, NDArray bias, NDArray perSample) {
        return NativeOps.biasGroupNorm(x, bias, perSample, groups, gamma1, beta1, eps, true);
    }

    /**
     * SiLU(GroupNorm(cat([x1, x2], 1))) in one native call ({@link NativeOps#catGroupNorm}: both parts read in place
     * where {@link NativeOps#catPartsFit} says so, else their concatenation). Needs {@link NativeOps}.
     *
     * @param x1 (B, C1, H, W)
     * @param x2 (B, C2, H, W), C1 + C2 = this layer's channels
     * @return (B, C1 + C2, H, W)
     */
    NDArray forwardSiluCat(NDArray x1, NDArray x2) {
        return NativeOps.catGroupNorm(x1, x2, groups, gamma1, beta1, eps, true);
    }

    /**
     * SiLU(GroupNorm(x)) as e4m3 bytes (B, H, W, C) with the static scale {@link Fp8Conv#INPUT_SCALE} ({@link
     * NativeOps#groupNormSiluE4m3}): an FP8 convolution's input. Needs {@link NativeOps}.
     *
     * @param x (B, C, H, W)
     */
    NDArray forwardSiluE4m3(NDArray x) {
        return NativeOps.groupNormSiluE4m3(x, null, null, groups, gamma1, beta1, eps);
    }

    /**
     * SiLU(GroupNorm(x + bias + perSample)) as e4m3 bytes (B, H, W, C) ({@link NativeOps#groupNormSiluE4m3}: the
     * addition inside the norm's kernels, as {@link #forwardSilu(NDArray, NDArray, NDArray)} adds it). Needs {@link
     * NativeOps}; x may be overwritten.
     *
     * @param x (B, C, H, W): a convolution's output without its bias
     * @param bias (C), or null
     * @param perSample (B, C) or (1, C) (a time embedding), or null
     */
    NDArray forwardSiluE4m3(NDArray x, NDArray bias, NDArray perSample) {
        return NativeOps.groupNormSiluE4m3(x, bias, perSample, groups, gamma1, beta1, eps);
    }

    /**
     * SiLU(GroupNorm(cat([x1, x2], 1))) as e4m3 bytes (B, H, W, C1 + C2) ({@link NativeOps#catGroupNormSiluE4m3}: both
     * parts read in place where {@link NativeOps#catPartsFit} says so). Needs {@link NativeOps}.
     */
    NDArray forwardSiluCatE4m3(NDArray x1, NDArray x2) {
        return NativeOps.catGroupNormSiluE4m3(x1, x2, groups, gamma1, beta1, eps);
    }

    /** @return the number of groups */
    int groups() {
        return groups;
    }

    /** @param x (B, C, H, W) */
    NDArray forward(NDArray x) {
        if (NativeOps.enabled()) {
            return NativeOps.groupNorm(x, groups, gamma1, beta1, eps, false);
        }
        Shape s = x.getShape();
        long n = s.get(0) * groups;
        NDArray[] scratch = params.groupNormScratch(n);
        NDArray y = BatchNorm.batchNorm(x.reshape(1, n, -1), scratch[2], scratch[3], scratch[0], scratch[1], 1, 0f, eps, true)
                .head();
        return y.reshape(s).mul(gamma).add(beta);
    }
}
