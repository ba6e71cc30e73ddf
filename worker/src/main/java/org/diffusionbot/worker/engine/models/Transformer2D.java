package org.diffusionbot.worker.engine.models;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * diffusers {@code Transformer2DModel} for SD 1.x/2.x: GroupNorm, proj_in (1x1 conv or linear),
 * {@code BasicTransformerBlock}s (self-attention, cross-attention, GEGLU feed-forward, each
 * pre-LayerNorm with residual: each residual added by the product before it where {@link NativeOps#attnResidual()},
 * else the attentions' in the next LayerNorm's pass), proj_out, + residual.
 */
final class Transformer2D {
    private final GroupNormLayer norm;
    private final boolean linearProjection;
    private final Conv2dLayer projInConv;
    private final Conv2dLayer projOutConv;
    private final LinearLayer projInLinear;
    private final LinearLayer projOutLinear;
    private final List<Block> blocks = new ArrayList<>();
    private final int channels;

    /** diffusers {@code BasicTransformerBlock} with GEGLU feed-forward. */
    private static final class Block {
        final LayerNormLayer norm1;
        final Attention attn1;
        final LayerNormLayer norm2;
        final Attention attn2;
        final LayerNormLayer norm3;
        final LinearLayer geglu;
        final LinearLayer ffOut;
        final long inner;
        /** FP8 companions of attn1's q|k|v, attn2's q and ff.net.0.proj ({@link #prepareFp8}), or null. */
        Fp8Linear qkv8;
        Fp8Linear q8;
        Fp8Linear ff8;
        /** ff.net.2's per-row FP8 companion ({@link #prepareFp8}, where {@link NativeOps#fp8FfOut()}), or null. */
        Fp8Linear out8;

        Block(Params p, String prefix, int dim, int heads, int contextDim, boolean upcast) {
            norm1 = new LayerNormLayer(p, prefix + ".norm1", dim, 1e-5);
            attn1 = new Attention(p, prefix + ".attn1", Attention.Names.DIFFUSERS, dim, 0, heads, false, upcast);
            norm2 = new LayerNormLayer(p, prefix + ".norm2", dim, 1e-5);
            attn2 = new Attention(p, prefix + ".attn2", Attention.Names.DIFFUSERS, dim, contextDim, heads, false, upcast);
            norm3 = new LayerNormLayer(p, prefix + ".norm3", dim, 1e-5);
            inner = 4L * dim;
            geglu = new LinearLayer(p, prefix + ".ff.net.0.proj", dim, (int) (2 * inner), true);
            ffOut = new LinearLayer(p, prefix + ".ff.net.2", (int) inner, dim, true);
        }

        /** @param kv attn2's k|v of the context made before ((B, M, 2C), a prompt K|V's slice), or null */
        NDArray forward(NDArray x0, NDArray context, NDArray kv) {
            return Ops.scoped(x0.getManager(), sub -> run(x0, context, kv), x0, context, kv);
        }

        /**
         * Makes the FP8 companions this block lacks (each once): the three after the norms, and ff.net.2's where {@link
         * NativeOps#fp8FfOut()} (a later call makes it once that is on); adds the new ones to {@code into}.
         */
        void prepareFp8(NDManager manager, List<Fp8Linear> into) {
            if (qkv8 == null) { // all three made before any is kept: one that throws (memory) leaves none half-made
                Fp8Linear ff = new Fp8Linear(geglu, norm3, manager, true); // its product may write e4m3
                Fp8Linear q = new Fp8Linear(attn2.inputProjection(), norm2, manager);
                Fp8Linear qkv = new Fp8Linear(attn1.inputProjection(), norm1, manager);
                ff8 = ff;
                q8 = q;
                qkv8 = qkv; // qkv8 marks them all made
                into.add(qkv8);
                into.add(q8);
                into.add(ff8);
            }
            if (out8 == null && NativeOps.fp8FfOut()) {
                out8 = new Fp8Linear(ffOut, manager);
                into.add(out8);
            }
        }

        private NDArray run(NDArray x, NDArray context, NDArray kv) {
            if (qkv8 != null && NativeOps.fp8Linears()) {
                return runFp8(x, context, kv);
            }
            NDArray n3;
            if (NativeOps.attnResidual()) {
                // each attention's output projection adds the residual (x + attn written once, one product), and the
                // next pre-norm reads only that sum
                x = attn1.forward(norm1.forward(x), null, null, x);
                x = attn2.forward(norm2.forward(x), context, kv, null, x);
                n3 = norm3.forward(x);
            } else {
                // each residual add and the next pre-norm in one pass: {x + attn(...), norm(x + attn(...))}
                NDArray[] xn = norm2.addForward(x, attn1.forward(norm1.forward(x), null, null));
                xn = norm3.addForward(xn[0], attn2.forward(xn[1], context, kv, null, null));
                x = xn[0];
                n3 = xn[1];
            }
            NDArray h;
            if (NativeOps.enabled()) {
                h = NativeOps.wrap(n3, NativeOps.geglu(NativeOps.h(n3), NativeOps.h(geglu.weight), NativeOps.h(geglu.bias)));
            } else {
                var parts = geglu.forward(n3).split(2, 2);
                h = parts.get(0).mul(parts.get(1).getNDArrayInternal().gelu());
            }
            return ffOut.forwardAdd(h, x); // ff.net.2 + the residual in one product (NativeOps.linearResidual)
        }

        /**
         * {@link #run} with the three linears after the norms as FP8 products: each norm writes its output without
         * affine as FP8 (one kernel pass, as before), read by its companion's product (γ, β folded into its weight); with
         * ff.net.2's companion and {@link NativeOps#fp8FfOut()}, the GEGLU gate writes FP8 with per-token scales and
         * ff.net.2 is an FP8 product adding bias and residual ({@link NativeOps#feedForwardFp8}), its GEGLU intermediate
         * written as e4m3 by ff.net.0.proj's product where {@link NativeOps#fp8Geglu()} ({@code SD_FP8_GEGLU=1}, off by
         * default; {@link NativeOps#feedForwardFp8E4m3}). As in {@link #run},
         * with {@link NativeOps#attnResidual()} the attentions add the residual in their output projection and the next
         * norm reads only the sum.
         */
        private NDArray runFp8(NDArray x, NDArray context, NDArray kv) {
            double s = qkv8.inputScale; // the same for the three: they all read C features
            NDArray[] xn;
            if (NativeOps.attnResidual()) {
                NDArray x1 = attn1.forwardFp8(norm1.forwardFp8(x, s), null, null, qkv8, x);
                NDArray x2 = attn2.forwardFp8(norm2.forwardFp8(x1, s), context, kv, q8, x1);
                xn = new NDArray[] {x2, norm3.forwardFp8(x2, s)};
            } else {
                xn = norm2.addForwardFp8(x, attn1.forwardFp8(norm1.forwardFp8(x, s), null, null, qkv8, null), s);
                xn = norm3.addForwardFp8(xn[0], attn2.forwardFp8(xn[1], context, kv, q8, null), s);
            }
            if (out8 != null && ff8.outScales != null && NativeOps.fp8Geglu()) { // the GEGLU intermediate as e4m3
                return NativeOps.wrap(xn[0], NativeOps.feedForwardFp8E4m3(NativeOps.h(xn[1]), NativeOps.h(ff8.weight),
                        NativeOps.h(ff8.scales), NativeOps.h(ff8.bias), NativeOps.h(ff8.outScales),
                        NativeOps.h(out8.weight), NativeOps.h(out8.scales), NativeOps.h(out8.bias),
                        NativeOps.h(ffOut.weight), NativeOps.h(xn[0])));
            }
            if (out8 != null && NativeOps.fp8FfOut()) {
                return NativeOps.wrap(xn[0], NativeOps.feedForwardFp8(NativeOps.h(xn[1]), NativeOps.h(ff8.weight),
                        NativeOps.h(ff8.scales), NativeOps.h(ff8.bias), NativeOps.h(out8.weight), NativeOps.h(out8.scales),
                        NativeOps.h(out8.bias), NativeOps.h(ffOut.weight), NativeOps.h(xn[0])));
            }
            NDArray h = NativeOps.wrap(xn[1], NativeOps.gegluFp8(NativeOps.h(xn[1]), NativeOps.h(ff8.weight),
                    NativeOps.h(ff8.scales), NativeOps.h(ff8.bias)));
            return ffOut.forwardAdd(h, xn[0]);
        }
    }

    Transformer2D(Params p, String prefix, int channels, int heads, int layers, int contextDim, int groups,
            boolean linearProjection, boolean upcast) {
        this.channels = channels;
        this.linearProjection = linearProjection;
        norm = new GroupNormLayer(p, prefix + ".norm", channels, groups, 1e-6);
        if (linearProjection) {
            projInLinear = new LinearLayer(p, prefix + ".proj_in", channels, channels, true);
            projOutLinear = new LinearLayer(p, prefix + ".proj_out", channels, channels, true);
            projInConv = null;
            projOutConv = null;
        } else {
            projInConv = new Conv2dLayer(p, prefix + ".proj_in", channels, channels, 1);
            projOutConv = new Conv2dLayer(p, prefix + ".proj_out", channels, channels, 1);
            projInLinear = null;
            projOutLinear = null;
        }
        for (int i = 0; i < layers; i++) {
            blocks.add(new Block(p, prefix + ".transformer_blocks." + i, channels, heads, contextDim, upcast));
        }
    }

    /**
     * Makes the FP8 companions of every block's three linears after a LayerNorm where {@link Fp8Linear#fits} (an fp16
     * model on CUDA, C a multiple of 16, FP8 linears on), and of its ff.net.2 where {@link NativeOps#fp8FfOut()} too (K =
     * 4C is then a multiple of 16 as well); blocks keep those they have.
     *
     * @param manager the parameters' long-lived manager
     * @return the companions made by this call (empty where they do not fit or all were made before)
     */
    List<Fp8Linear> prepareFp8(NDManager manager, DataType dtype, Device device) {
        List<Fp8Linear> all = new ArrayList<>();
        if (Fp8Linear.fits(dtype, device, channels)) {
            for (Block blk : blocks) {
                blk.prepareFp8(manager, all);
            }
        }
        return all;
    }

    /** Adds every block's cross-attention (attn2) to {@code into}, in the order {@link #forward} runs the blocks. */
    void crossAttentions(List<Attention> into) {
        for (Block blk : blocks) {
            into.add(blk.attn2);
        }
    }

    /**
     * @param x (B, C, H, W)
     * @param context (B, M, contextDim)
     * @param kv each block's attn2 k|v of the context made before ({@link #crossAttentions}' order; (B, M, 2C) each),
     *     or null: each projects the context
     */
    NDArray forward(NDArray x, NDArray context, NDArray[] kv) {
        return Ops.scoped(x.getManager(), sub -> run(x, context, kv), x, context);
    }

    private NDArray run(NDArray x, NDArray context, NDArray[] kv) {
        Shape s = x.getShape();
        long b = s.get(0);
        long h = s.get(2);
        long w = s.get(3);
        NDArray y = norm.forward(x);
        if (!linearProjection) {
            y = projInConv.forward(y);
        }
        y = y.reshape(b, channels, h * w).transpose(0, 2, 1);
        if (linearProjection) {
            y = projInLinear.forward(y);
        }
        for (int i = 0; i < blocks.size(); i++) {
            y = blocks.get(i).forward(y, context, kv == null ? null : kv[i]);
        }
        if (linearProjection) { // proj_out + the block's input, (B, HW, C) rows, in one product (LinearLayer.forwardAdd):
            // the transposed view is contiguous rows only when x is channels-last; otherwise the product and an add
            NDArray residual = x.reshape(b, channels, h * w).transpose(0, 2, 1);
            return projOutLinear.forwardAdd(y, residual).transpose(0, 2, 1).reshape(b, channels, h, w);
        }
        // a 1x1 convolution and the residual (NativeOps.conv2d: one product with bias and residual, conv1x1_gemm)
        return projOutConv.forward(y.transpose(0, 2, 1).reshape(b, channels, h, w), null, x);
    }
}
