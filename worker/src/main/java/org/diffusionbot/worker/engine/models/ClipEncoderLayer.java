package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * One pre-LayerNorm transformer layer of CLIP (transformers' {@code CLIPEncoderLayer}), the same in the
 * text and the vision tower: {@code x + attn(ln1(x))}, then {@code x + fc2(act(fc1(ln2(x))))}, with
 * {@code quick_gelu} (x·σ(1.702x), OpenAI CLIP) or {@code gelu} (OpenCLIP).
 */
final class ClipEncoderLayer {
    private final LayerNormLayer norm1;
    private final Attention attn;
    private final LayerNormLayer norm2;
    private final LinearLayer fc1;
    private final LinearLayer fc2;
    private final boolean gelu;

    /**
     * @param prefix names up to the layer, e.g. {@code text_model.encoder.layers.3.}
     * @param hiddenAct {@code quick_gelu} or {@code gelu}
     */
    ClipEncoderLayer(Params p, String prefix, int hidden, int intermediate, int heads, double eps, String hiddenAct) {
        norm1 = new LayerNormLayer(p, prefix + "layer_norm1", hidden, eps);
        attn = new Attention(p, prefix + "self_attn", Attention.Names.CLIP, hidden, 0, heads, true, false);
        norm2 = new LayerNormLayer(p, prefix + "layer_norm2", hidden, eps);
        fc1 = new LinearLayer(p, prefix + "mlp.fc1", hidden, intermediate, true);
        fc2 = new LinearLayer(p, prefix + "mlp.fc2", intermediate, hidden, true);
        gelu = hiddenAct.equals("gelu");
    }

    /**
     * @param x (B, N, hidden)
     * @param mask additive attention mask (N, N), or null for none
     * @return (B, N, hidden)
     */
    NDArray forward(NDArray x, NDArray mask) {
        NDArray[] xn;
        if (NativeOps.attnResidual()) { // x + attn from the attention's output projection, then ln2 of it
            NDArray s = attn.forward(norm1.forward(x), null, mask, x);
            xn = new NDArray[] {s, norm2.forward(s)};
        } else {
            xn = norm2.addForward(x, attn.forward(norm1.forward(x), null, mask)); // {x + attn, ln2(x + attn)}
        }
        NDArray h = fc1.forward(xn[1]);
        h = gelu ? h.getNDArrayInternal().gelu() : h.mul(mul(h, 1.702f).getNDArrayInternal().sigmoid());
        return fc2.forwardAdd(h, xn[0]); // fc2 + the residual in one product (NativeOps.linearResidual)
    }
}
