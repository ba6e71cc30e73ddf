package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.div;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/** diffusers {@code ResnetBlock2D}: GroupNorm, SiLU, conv, (+ time embedding), GroupNorm, SiLU, conv, + shortcut. */
final class ResnetBlock2D {
    private final GroupNormLayer norm1;
    private final Conv2dLayer conv1;
    private final LinearLayer timeProj;
    private final GroupNormLayer norm2;
    private final Conv2dLayer conv2;
    private final Conv2dLayer shortcut;
    private final double outputScale;

    /** @param tembChannels width of the time embedding, or 0 when the block has none (VAE) */
    ResnetBlock2D(Params p, String prefix, int in, int out, int tembChannels, int groups, double eps, double outputScale) {
        norm1 = new GroupNormLayer(p, prefix + ".norm1", in, groups, eps);
        conv1 = new Conv2dLayer(p, prefix + ".conv1", in, out, 3);
        timeProj = tembChannels > 0 ? new LinearLayer(p, prefix + ".time_emb_proj", tembChannels, out, true) : null;
        norm2 = new GroupNormLayer(p, prefix + ".norm2", out, groups, eps);
        conv2 = new Conv2dLayer(p, prefix + ".conv2", out, out, 3);
        shortcut = in != out ? new Conv2dLayer(p, prefix + ".conv_shortcut", in, out, 1) : null;
        this.outputScale = outputScale;
    }

    /**
     * @param x (B, in, H, W)
     * @param tembAct SiLU(time embedding) (B, temb), or null for blocks without time embedding
     */
    NDArray forward(NDArray x, NDArray tembAct) {
        return Ops.scoped(x.getManager(), sub -> run(x, tembAct), x, tembAct);
    }

    private NDArray run(NDArray x, NDArray tembAct) {
        NDArray t = timeProj == null ? null : timeProj.forward(tembAct); // (B, out), added with conv1's bias
        NDArray a = norm1.forwardSilu(x);
        // conv1's bias and t added inside norm2's kernels (NativeOps.fusedBiasNorm: SD_FUSED_BIAS_NORM), or in conv1's
        // pass; conv1's output is used by norm2 alone
        NDArray h = NativeOps.fusedBiasNorm() ? norm2.forwardSilu(conv1.forwardWithoutBias(a), conv1.bias(), t)
                : norm2.forwardSilu(conv1.forward(a, t, null));
        NDArray res = shortcut == null ? x : shortcut.forward(x);
        NDArray y = conv2.forward(h, null, res); // the residual added with conv2's bias
        return outputScale == 1.0 ? y : div(y, outputScale);
    }
}
