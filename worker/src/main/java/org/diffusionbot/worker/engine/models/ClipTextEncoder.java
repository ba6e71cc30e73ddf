package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.gte;
import static org.diffusionbot.worker.engine.Scalars.maximum;
import static org.diffusionbot.worker.engine.Scalars.sub;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.worker.engine.io.Weights;

/**
 * The CLIP text transformer of Stable Diffusion (transformers' {@code CLIPTextModel}, tensor names
 * {@code text_model.*}): token + position embeddings, pre-LayerNorm transformer layers with a causal
 * mask (no padding mask), final LayerNorm; with {@link ClipTextConfig#projectionDim()} &gt; 0 also
 * {@code CLIPTextModelWithProjection}'s {@code text_projection.weight} (no bias), which maps the
 * pooled state to {@code text_embeds} (SDXL's second encoder).
 */
public final class ClipTextEncoder {
    private final NamedParameters parameters;
    private static final String P = "text_model.";

    private final ClipTextConfig config;
    private final NDArray tokenEmbedding;
    private final NDArray positionEmbedding;
    private final NDArray fullMask;
    private final List<ClipEncoderLayer> layers = new ArrayList<>();
    private final LayerNormLayer finalNorm;
    private final LinearLayer projection;
    private final DataType dtype;

    /**
     * What SDXL takes from an encoder ({@link #encodeHidden}).
     *
     * @param hidden (B, L, hidden) the chosen layer's output, without the final layer norm
     * @param pooled (B, projection_dim) {@code text_embeds}, or null when not asked for
     */
    public record Hidden(NDArray hidden, NDArray pooled) {}

    /**
     * Builds the encoder from weights; call {@link Weights#verify()} afterwards (the loader does).
     *
     * @param config the configuration
     * @param weights tensors named {@code text_model.*}
     * @param manager long-lived owner of the parameters
     * @param dtype parameter and compute type
     * @param device parameter and compute device
     */
    public ClipTextEncoder(ClipTextConfig config, Weights weights, NDManager manager, DataType dtype, Device device) {
        this(config, new Params(weights, manager, dtype, device));
    }

    ClipTextEncoder(ClipTextConfig config, Params p) {
        this.config = config;
        this.dtype = p.dtype();
        int h = config.hiddenSize();
        tokenEmbedding = p.get(P + "embeddings.token_embedding.weight", config.vocabSize(), h);
        positionEmbedding = p.get(P + "embeddings.position_embedding.weight", config.maxPositionEmbeddings(), h);
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            layers.add(new ClipEncoderLayer(p, P + "encoder.layers." + i + ".", h, config.intermediateSize(),
                    config.numAttentionHeads(), config.layerNormEps(), config.hiddenAct()));
        }
        finalNorm = new LayerNormLayer(p, P + "final_layer_norm", h, config.layerNormEps());
        projection = config.projectionDim() > 0
                ? new LinearLayer(p, "text_projection", h, config.projectionDim(), false) : null;
        fullMask = causalMask(p.manager(), config.maxPositionEmbeddings(), dtype, p.device());
        this.parameters = p.named();
    }

    /** @return the configuration */
    public ClipTextConfig config() {
        return config;
    }

    /**
     * The last hidden state (after the final layer norm), as SD 1.x uses it.
     *
     * @param caller owner of the result
     * @param ids token ids (B, L), any integer or float type, L ≤ max positions (77)
     * @return (B, L, hidden)
     */
    public NDArray encode(NDManager caller, NDArray ids) {
        return encode(caller, ids, 1);
    }

    /**
     * {@code hidden_states[-clipSkip]}, the output of layer N − clipSkip + 1 of N, after the final layer norm, as
     * SD 1.x conditions on it: Automatic1111's "Clip skip" ({@code sd_hijack_clip.py}
     * {@code FrozenCLIPEmbedderWithCustomWords.encode_with_transformers}: 1 = {@code last_hidden_state}, N &gt; 1 =
     * {@code final_layer_norm(hidden_states[-N])}).
     *
     * @param caller owner of the result
     * @param ids token ids (B, L)
     * @param clipSkip 1 .. number of layers
     * @return (B, L, hidden)
     */
    public NDArray encode(NDManager caller, NDArray ids, int clipSkip) {
        return encode(caller, ids, clipSkip, null);
    }

    /**
     * As {@link #encode(NDManager, NDArray, int)}, with textual-inversion vectors: ids from {@code
     * vocab_size} on take row {@code id − vocab_size} of {@code extraTokens} instead of the token
     * embedding (AUTOMATIC1111's {@code EmbeddingsWithFixes}), before the position embedding.
     *
     * @param extraTokens (n, hidden) in the encoder's dtype and device, or null
     */
    public NDArray encode(NDManager caller, NDArray ids, int clipSkip, NDArray extraTokens) {
        if (clipSkip < 1 || clipSkip > layers.size()) {
            throw new IllegalArgumentException("clipSkip must be 1.." + layers.size() + ", got " + clipSkip);
        }
        checkLength(ids);
        return Ops.scoped(caller, sub -> {
            NDArray[] xm = embed(sub, ids, extraTokens);
            NDArray x = xm[0];
            int n = layers.size() - clipSkip + 1;
            for (int i = 0; i < n; i++) {
                x = layers.get(i).forward(x, xm[1]);
            }
            return finalNorm.forward(x);
        }, ids);
    }

    /** {@link #encodeHidden(NDManager, NDArray, int, boolean, NDArray)} without textual-inversion vectors. */
    public Hidden encodeHidden(NDManager caller, NDArray ids, int clipSkip, boolean pooled) {
        return encodeHidden(caller, ids, clipSkip, pooled, null);
    }

    /**
     * The hidden states SDXL conditions on: {@code hidden_states[-clipSkip]}, the output of layer N − clipSkip + 1 of
     * N without the final layer norm (Automatic1111's numbering, as for {@link #encode(NDManager, NDArray, int)}: 1 =
     * the last layer, 2 = the penultimate layer, which diffusers' {@code StableDiffusionXLPipeline.encode_prompt}
     * takes by default, its {@code clip_skip} k being {@code hidden_states[-(k + 2)]} = our k + 2) and, if asked,
     * {@code text_embeds}: the last layer's final-normed state at each row's first {@code <|endoftext|>} ({@link
     * ClipTextConfig#eosTokenId()}), times {@code text_projection}, whatever the clip skip.
     *
     * <p>No final layer norm for any clip skip, the last layer's included, as ComfyUI's SDXL encoders ({@code
     * comfy/sdxl_clip.py}: {@code layer_norm_hidden_state=False}, so {@code CLIPSetLastLayer} −N gives this
     * state for either encoder) and Automatic1111 with {@code sdxl_clip_l_skip} ({@code sd_hijack_clip.py}
     * {@code FrozenCLIPEmbedderForSDXLWithCustomWords}: {@code hidden_states[-CLIP_stop_at_last_layers]}).
     *
     * @param caller owner of the result
     * @param ids token ids (B, L), L ≤ max positions (77)
     * @param clipSkip 1 .. number of layers
     * @param pooled whether to compute {@code text_embeds} (needs a projection)
     * @param extraTokens textual-inversion vectors as for {@link #encode(NDManager, NDArray, int, NDArray)}, or null
     * @return the hidden state (B, L, hidden) and the pooled embedding (B, projection_dim) or null
     * @throws IllegalArgumentException for a clip skip out of range, or pooled without a projection
     */
    public Hidden encodeHidden(NDManager caller, NDArray ids, int clipSkip, boolean pooled, NDArray extraTokens) {
        if (clipSkip < 1 || clipSkip > layers.size()) {
            throw new IllegalArgumentException("clipSkip must be 1.." + layers.size() + ", got " + clipSkip);
        }
        if (pooled && projection == null) {
            throw new IllegalArgumentException("this text encoder has no text_projection (not CLIPTextModelWithProjection)");
        }
        checkLength(ids);
        try (NDManager sub = caller.newSubManager()) {
            sub.tempAttachAll(ids); // intermediates go to sub, ids back to its owner at the end
            int[] eos = pooled ? eosPositions(ids) : null;
            NDArray[] xm = embed(sub, ids, extraTokens);
            NDArray x = xm[0];
            NDArray hidden = null;
            int keep = layers.size() - clipSkip + 1;
            int n = pooled ? layers.size() : keep;
            for (int i = 0; i < n; i++) {
                x = layers.get(i).forward(x, xm[1]);
                if (i == keep - 1) {
                    hidden = x;
                }
            }
            NDArray text = null;
            if (pooled) {
                NDArray normed = finalNorm.forward(x);
                NDList rows = new NDList();
                for (int b = 0; b < eos.length; b++) {
                    rows.add(normed.get(new NDIndex("{}, {}", b, eos[b])));
                }
                text = projection.forward(NDArrays.stack(rows, 0));
                text.attach(caller);
            }
            hidden.attach(caller);
            return new Hidden(hidden, text);
        }
    }

    /** transformers: the first eos per row ({@code eos_token_id == 2}, a legacy config: the highest id). */
    private int[] eosPositions(NDArray ids) {
        long[] shape = ids.getShape().getShape();
        int len = (int) shape[shape.length - 1];
        long[] v = ids.toType(DataType.INT64, false).toLongArray();
        int[] out = new int[v.length / len];
        for (int b = 0; b < out.length; b++) {
            int best = 0;
            for (int j = 0; j < len; j++) {
                long id = v[b * len + j];
                if (config.eosTokenId() == 2 ? id > v[b * len + best] : id == config.eosTokenId()) {
                    best = j;
                    if (config.eosTokenId() != 2) {
                        break;
                    }
                }
            }
            out[b] = best;
        }
        return out;
    }

    private void checkLength(NDArray ids) {
        long len = ids.getShape().get(ids.getShape().dimension() - 1);
        if (len > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + len + " exceeds " + config.maxPositionEmbeddings());
        }
    }

    /** Token (or textual-inversion) + position embeddings and the causal mask of this length. */
    private NDArray[] embed(NDManager sub, NDArray ids, NDArray extraTokens) {
        long len = ids.getShape().get(ids.getShape().dimension() - 1);
        NDArray idx = ids.getDataType() == DataType.INT64 ? ids : ids.toType(DataType.INT64, false);
        NDArray x;
        if (extraTokens == null) {
            x = idx.getNDArrayInternal().embedding(idx, tokenEmbedding, SparseFormat.DENSE).head();
        } else {
            int vocab = config.vocabSize();
            NDArray extra = gte(idx, vocab);
            NDArray own = idx.mul(extra.logicalNot().toType(DataType.INT64, false));
            NDArray added = maximum(sub(idx, vocab), 0);
            x = idx.getNDArrayInternal().embedding(own, tokenEmbedding, SparseFormat.DENSE).head();
            NDArray e = idx.getNDArrayInternal().embedding(added, extraTokens, SparseFormat.DENSE).head();
            x = NDArrays.where(extra.expandDims(-1).broadcast(x.getShape()), e, x); // torch.where: no broadcasting in DJL
        }
        if (len == config.maxPositionEmbeddings()) {
            return new NDArray[] {x.add(positionEmbedding), fullMask};
        }
        NDArray pos = sub.arange(0, len, 1, DataType.INT64, x.getDevice());
        x = x.add(pos.getNDArrayInternal().embedding(pos, positionEmbedding, SparseFormat.DENSE).head());
        return new NDArray[] {x, causalMask(sub, (int) len, dtype, x.getDevice())};
    }

    private static NDArray causalMask(NDManager m, int n, DataType dtype, Device device) {
        float[] v = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                v[i * n + j] = Float.NEGATIVE_INFINITY;
            }
        }
        return m.create(v, new Shape(n, n)).toDevice(device, false).toType(dtype, false);
    }

    /** @return the parameters by diffusers name, for patches applied in place ({@link NamedParameters}) */
    public NamedParameters parameters() {
        return parameters;
    }
}
