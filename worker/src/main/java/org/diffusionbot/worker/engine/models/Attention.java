package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * Multi-head scaled dot-product attention over (B, N, C) inputs, for self-attention (q, k, v from
 * the input, projections fused into one matmul) or cross-attention (k, v from a context, fused into
 * one matmul, or given: the layer's slice of a prompt K|V, {@link #projectKv} made once per denoising loop). The
 * 1/sqrt(head_dim) scale is folded into the query projection at load time. Given the residual stream, the output
 * projection adds it in the same product ({@link #forward(NDArray, NDArray, NDArray, NDArray)}).
 */
final class Attention {
    /** Parameter names of the four projections. */
    record Names(String q, String k, String v, String out) {
        static final Names DIFFUSERS = new Names("to_q", "to_k", "to_v", "to_out.0");
        static final Names CLIP = new Names("q_proj", "k_proj", "v_proj", "out_proj");
    }

    private final int heads;
    private final int dim;
    private final boolean cross;
    private final boolean upcast;
    private final LinearLayer q;
    private final LinearLayer kv;
    private final LinearLayer qkv;
    private final LinearLayer out;

    /**
     * The q, k and v parameters of one kind ({@code weight} or {@code bias}) as the layers compute with
     * them: q times {@code scale} (1/√head_dim, folded into the projection), then k and v concatenated
     * (cross-attention: {scaled q, k|v}) or all three concatenated (self-attention: {null, q|k|v}). The
     * named parameters are pointed at their rows; the arrays read from the file are freed.
     */
    private NDArray[] fuse(Params p, String prefix, Names names, String kind, long[] qShape, long[] kvShape,
            double scale) {
        String nq = prefix + "." + names.q() + "." + kind;
        String nk = prefix + "." + names.k() + "." + kind;
        String nv = prefix + "." + names.v() + "." + kind;
        NDArray raw = p.get(nq, qShape);
        NDArray sq = mul(raw, scale);
        raw.close();
        NDArray k = p.get(nk, kvShape);
        NDArray v = p.get(nv, kvShape);
        NDArray fused = cross ? k.concat(v, 0) : Ops.concat(new NDList(sq, k, v), 0);
        long kRow = cross ? 0 : qShape[0];
        p.storedIn(nq, cross ? sq : fused, 0, scale);
        p.storedIn(nk, fused, kRow, 1);
        p.storedIn(nv, fused, kRow + kvShape[0], 1);
        k.close();
        v.close();
        if (!cross) {
            sq.close();
            return new NDArray[] {null, fused};
        }
        return new NDArray[] {sq, fused};
    }

    /**
     * @param contextDim width of the context for cross-attention, or 0 for self-attention
     * @param qkvBias whether the q/k/v projections have biases
     */
    Attention(Params p, String prefix, Names names, int dim, int contextDim, int heads, boolean qkvBias, boolean upcast) {
        this.heads = heads;
        this.dim = dim;
        this.cross = contextDim > 0;
        this.upcast = upcast;
        int kvIn = cross ? contextDim : dim;
        double scale = 1.0 / Math.sqrt((double) dim / heads);
        NDArray[] w = fuse(p, prefix, names, "weight", new long[] {dim, dim}, new long[] {dim, kvIn}, scale);
        NDArray[] b = qkvBias ? fuse(p, prefix, names, "bias", new long[] {dim}, new long[] {dim}, scale) : null;
        if (cross) {
            q = new LinearLayer(w[0], qkvBias ? b[0] : null);
            kv = new LinearLayer(w[1], qkvBias ? b[1] : null);
            qkv = null;
        } else {
            q = null;
            kv = null;
            qkv = new LinearLayer(w[1], qkvBias ? b[1] : null);
        }
        this.out = new LinearLayer(p, prefix + "." + names.out(), dim, dim, true);
    }

    /**
     * @param x (B, N, C)
     * @param context (B, M, contextDim) for cross-attention, ignored for self-attention
     * @param mask additive (N, N) mask or null
     * @return (B, N, C)
     */
    NDArray forward(NDArray x, NDArray context, NDArray mask) {
        return forward(x, context, mask, null);
    }

    /**
     * The attention and, given one, the residual add after it: {@code residual + attn(x)} (diffusers' {@code
     * attn_output + hidden_states}), the residual added by the output projection itself ({@link LinearLayer#forwardAdd}:
     * with the library, the attention entries' residual, one cuBLASLt product adding bias and residual in fp32 and
     * rounding once, within fp16 rounding of the projection + add; without it, the product, then the add, as before).
     *
     * @param x (B, N, C)
     * @param context (B, M, contextDim) for cross-attention, ignored for self-attention
     * @param mask additive (N, N) mask or null
     * @param residual (B, N, C) in the output's type, or null for the attention alone
     * @return (B, N, C)
     */
    NDArray forward(NDArray x, NDArray context, NDArray mask, NDArray residual) {
        return forward(x, context, null, mask, residual);
    }

    /**
     * The width of this cross-attention's k|v projection, 2C (its part of a prompt K|V: {@link #projectKv}).
     *
     * @throws IllegalStateException for a self-attention
     */
    int kvWidth() {
        if (!cross) {
            throw new IllegalStateException("a self-attention has no k|v of a context");
        }
        return 2 * dim;
    }

    /**
     * This cross-attention's k|v projection of a context, the product {@link #forward} makes from it when no k|v is
     * given (the same {@link LinearLayer#forward}: with the library {@code sd_linear}, the kernel and rounding of the
     * native cross-attention's own k|v product).
     *
     * @param context (B, M, contextDim)
     * @return (B, M, 2C), k in the first C columns, v in the last, a new array on the context's manager
     */
    NDArray projectKv(NDArray context) {
        kvWidth(); // cross-attention only
        return kv.forward(context);
    }

    /**
     * {@link #forward(NDArray, NDArray, NDArray, NDArray)} with, for cross-attention, the k|v given or not.
     *
     * @param x (B, N, C)
     * @param context (B, M, contextDim) for cross-attention, ignored for self-attention
     * @param kvGiven for cross-attention, this layer's k|v of {@code context} made before ({@link #projectKv}: (B, M,
     *     2C) contiguous, a prompt K|V's slice), or null: projected here; ignored for self-attention. With the library,
     *     one that lacks the k|v functions projects the context as before.
     * @param mask additive (N, N) mask or null
     * @param residual (B, N, C) in the output's type, or null for the attention alone
     * @return (B, N, C)
     */
    NDArray forward(NDArray x, NDArray context, NDArray kvGiven, NDArray mask, NDArray residual) {
        if ((mask == null || !cross) && NativeOps.enabled()) {
            // one call: projections + fused SDPA (flash / cuDNN / memory-efficient kernels; CLIP's causal mask as an
            // additive mask) + output projection (+ the residual in the same product)
            long r = takesResidual(residual) ? NativeOps.h(residual) : 0L;
            long handle;
            if (cross && kvGiven != null && NativeOps.crossAttentionKvLinked()) {
                // the k|v made before: q projection, attention, output projection
                handle = NativeOps.crossAttentionKv(NativeOps.h(x), NativeOps.h(kvGiven), NativeOps.h(q.weight),
                        NativeOps.h(q.bias), NativeOps.h(out.weight), NativeOps.h(out.bias), heads, r);
            } else {
                handle = cross
                        ? NativeOps.crossAttention(NativeOps.h(x), NativeOps.h(context), NativeOps.h(q.weight),
                                NativeOps.h(q.bias), NativeOps.h(kv.weight), NativeOps.h(kv.bias),
                                NativeOps.h(out.weight), NativeOps.h(out.bias), heads, r)
                        : NativeOps.selfAttention(NativeOps.h(x), NativeOps.h(qkv.weight), NativeOps.h(qkv.bias),
                                NativeOps.h(out.weight), NativeOps.h(out.bias), heads,
                                mask == null ? 0 : NativeOps.h(mask), r);
            }
            return withResidual(NativeOps.wrap(x, handle), residual, r);
        }
        Shape s = x.getShape();
        long b = s.get(0);
        long n = s.get(1);
        long d = dim / heads;
        NDArray qh;
        NDList kvh;
        if (cross) {
            NDArray kvp = kvGiven != null ? kvGiven : kv.forward(context); // (B, M, 2C)
            long m = kvp.getShape().get(1);
            qh = q.forward(x).reshape(b, n, heads, d).transpose(0, 2, 1, 3); // (B,H,N,d)
            kvh = kvp.reshape(b, m, 2, heads, d).transpose(2, 0, 3, 1, 4).split(2, 0);
        } else {
            NDList parts = qkv.forward(x).reshape(b, n, 3, heads, d).transpose(2, 0, 3, 1, 4).split(3, 0);
            qh = parts.get(0); // (1,B,H,N,d)
            kvh = new NDList(parts.get(1), parts.get(2));
        }
        NDArray k = kvh.get(0);
        NDArray v = kvh.get(1);
        DataType type = x.getDataType();
        boolean up = upcast && type != DataType.FLOAT32;
        if (up) {
            qh = qh.toType(DataType.FLOAT32, false);
            k = k.toType(DataType.FLOAT32, false);
        }
        NDArray kt = k.swapAxes(3, 4);
        long m = kt.getShape().get(4);
        // Scores are (B, H, N, M): beyond SCORE_CHUNK elements, go over the queries in chunks so that
        // memory stays bounded (e.g. 4096 tokens at 512x512 would need B*H*4096^2 floats at once).
        long rows = Math.max(1, Math.min(n, SCORE_CHUNK / Math.max(1, b * heads * m)));
        NDArray o;
        if (rows >= n || mask != null) {
            o = core(qh, kt, v, mask, up, type);
        } else {
            NDList pieces = new NDList();
            ai.djl.ndarray.NDManager parent = qh.getManager();
            final NDArray kt0 = kt;
            final NDArray v0 = v;
            for (long r0 = 0; r0 < n; r0 += rows) {
                long r1 = Math.min(n, r0 + rows);
                NDArray qc = qh.get("..., " + r0 + ":" + r1 + ", :"); // (…, N, d) rows r0..r1
                // each chunk's scores are freed before the next chunk
                pieces.add(Ops.scoped(parent, sub -> core(qc, kt0, v0, null, up, type), qc, kt0, v0));
            }
            o = Ops.concat(pieces, 3);
        }
        NDArray merged = o.transpose(0, 1, 3, 2, 4).reshape(b, n, dim); // the heads side by side
        return residual == null ? out.forward(merged) : out.forwardAdd(merged, residual);
    }

    /** Whether the library's attention entries take this residual (a library built before them would ignore it). */
    private static boolean takesResidual(NDArray residual) {
        return residual != null && NativeOps.ATTN_RESIDUAL.linked();
    }

    /** An entry's output, plus the residual where it was not handed to the entry (handle {@code r} 0). */
    private static NDArray withResidual(NDArray y, NDArray residual, long r) {
        return residual == null || r != 0L ? y : residual.add(y);
    }

    /**
     * The projection of this attention's input x: the fused q|k|v (self-attention) or q (cross-attention), what an
     * {@link Fp8Linear} is made from.
     */
    LinearLayer inputProjection() {
        return cross ? q : qkv;
    }

    /**
     * {@link #forward} (no mask) of an FP8 input: x8 (B, N, C) e4m3 bytes from {@link LayerNormLayer#forwardFp8}, its
     * {@link #inputProjection()} the FP8 product of {@code proj} (the companion of that projection and of the norm that
     * wrote x8); k and v of cross-attention from the fp16 context as before, or the given k|v. Needs the library.
     *
     * @param context (B, M, contextDim) for cross-attention, ignored for self-attention
     * @param kvGiven for cross-attention, this layer's k|v made before ({@link #projectKv}, (B, M, 2C) contiguous) or
     *     null, as in {@link #forward(NDArray, NDArray, NDArray, NDArray, NDArray)}; ignored for self-attention
     * @param residual (B, N, C) fp16 added by the output projection ({@link #forward(NDArray, NDArray, NDArray,
     *     NDArray)}), or null
     * @return (B, N, C) fp16: the attention, plus the residual where one is given
     */
    NDArray forwardFp8(NDArray x8, NDArray context, NDArray kvGiven, Fp8Linear proj, NDArray residual) {
        long r = takesResidual(residual) ? NativeOps.h(residual) : 0L;
        if (cross && kvGiven != null && NativeOps.crossAttentionKvLinked()) {
            long given = NativeOps.crossAttentionKvFp8(NativeOps.h(x8), NativeOps.h(kvGiven), NativeOps.h(proj.weight),
                    NativeOps.h(proj.scales), NativeOps.h(proj.bias), NativeOps.h(out.weight), NativeOps.h(out.bias),
                    heads, r);
            return withResidual(NativeOps.wrap(x8, given), residual, r);
        }
        long handle = cross
                ? NativeOps.crossAttentionFp8(NativeOps.h(x8), NativeOps.h(context), NativeOps.h(proj.weight),
                        NativeOps.h(proj.scales), NativeOps.h(proj.bias), NativeOps.h(kv.weight), NativeOps.h(kv.bias),
                        NativeOps.h(out.weight), NativeOps.h(out.bias), heads, r)
                : NativeOps.selfAttentionFp8(NativeOps.h(x8), NativeOps.h(proj.weight), NativeOps.h(proj.scales),
                        NativeOps.h(proj.bias), NativeOps.h(out.weight), NativeOps.h(out.bias), heads, r);
        return withResidual(NativeOps.wrap(x8, handle), residual, r);
    }

    /** Largest score tensor computed at once in the DJL path (elements). */
    private static final long SCORE_CHUNK = 1L << 26;

    private static NDArray core(NDArray qh, NDArray kt, NDArray v, NDArray mask, boolean up, DataType type) {
        NDArray scores = qh.matMul(kt); // (1,B,H,n,M)
        if (mask != null) {
            scores = scores.add(mask);
        }
        NDArray probs = scores.softmax(-1);
        if (up) {
            probs = probs.toType(type, false);
        }
        return probs.matMul(v);
    }
}
