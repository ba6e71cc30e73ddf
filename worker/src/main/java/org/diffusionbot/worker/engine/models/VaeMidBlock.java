package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * diffusers {@code UNetMidBlock2D} of the VAE: resnet, single-head spatial self-attention (GroupNorm,
 * q/k/v/out with biases, residual), resnet. Tensor names use the current {@code to_q/to_k/to_v/to_out.0}.
 */
final class VaeMidBlock {
    private final ResnetBlock2D resnet0;
    private final GroupNormLayer attnNorm;
    private final Attention attn;
    private final ResnetBlock2D resnet1;
    private final int channels;

    VaeMidBlock(Params p, String prefix, int channels, int groups, boolean addAttention) {
        this.channels = channels;
        resnet0 = new ResnetBlock2D(p, prefix + ".resnets.0", channels, channels, 0, groups, 1e-6, 1.0);
        if (addAttention) {
            attnNorm = new GroupNormLayer(p, prefix + ".attentions.0.group_norm", channels, groups, 1e-6);
            attn = new Attention(p, prefix + ".attentions.0", Attention.Names.DIFFUSERS, channels, 0, 1, true, true);
        } else {
            attnNorm = null;
            attn = null;
        }
        resnet1 = new ResnetBlock2D(p, prefix + ".resnets.1", channels, channels, 0, groups, 1e-6, 1.0);
    }

    NDArray forward(NDArray x) {
        x = resnet0.forward(x, null);
        if (attn != null) {
            Shape s = x.getShape();
            NDArray h = attnNorm.forward(x).reshape(s.get(0), channels, s.get(2) * s.get(3)).transpose(0, 2, 1);
            h = attn.forward(h, null, null).transpose(0, 2, 1).reshape(s);
            x = h.add(x);
        }
        return resnet1.forward(x, null);
    }
}
