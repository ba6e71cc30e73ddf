package org.diffusionbot.worker.engine.models;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
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
 * mask (no padding mask), final LayerNorm.
 */
public final class ClipTextEncoder {
    private static final String P = "text_model.";

    private final ClipTextConfig config;
    private final NDArray tokenEmbedding;
    private final NDArray positionEmbedding;
    private final NDArray fullMask;
    private final List<ClipEncoderLayer> layers = new ArrayList<>();
    private final LayerNormLayer finalNorm;
    private final DataType dtype;

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
        fullMask = causalMask(p.manager(), config.maxPositionEmbeddings(), dtype, p.device());
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
     * The hidden state of layer N - clipSkip + 1 after the final layer norm ("clip skip" as in
     * Automatic1111: 1 = last layer, 2 = penultimate layer).
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
        long len = ids.getShape().get(ids.getShape().dimension() - 1);
        if (len > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + len + " exceeds " + config.maxPositionEmbeddings());
        }
        return Ops.scoped(caller, sub -> {
            NDArray idx = ids.getDataType() == DataType.INT64 ? ids : ids.toType(DataType.INT64, false);
            NDArray x;
            if (extraTokens == null) {
                x = idx.getNDArrayInternal().embedding(idx, tokenEmbedding, SparseFormat.DENSE).head();
            } else {
                int vocab = config.vocabSize();
                NDArray extra = idx.gte(vocab);
                NDArray own = idx.mul(extra.logicalNot().toType(DataType.INT64, false));
                NDArray added = idx.sub(vocab).maximum(0);
                x = idx.getNDArrayInternal().embedding(own, tokenEmbedding, SparseFormat.DENSE).head();
                NDArray e = idx.getNDArrayInternal().embedding(added, extraTokens, SparseFormat.DENSE).head();
                x = ai.djl.ndarray.NDArrays.where(extra.expandDims(-1), e, x);
            }
            NDArray mask;
            if (len == config.maxPositionEmbeddings()) {
                x = x.add(positionEmbedding);
                mask = fullMask;
            } else {
                NDArray pos = sub.arange(0, len, 1, DataType.INT64, x.getDevice());
                x = x.add(pos.getNDArrayInternal().embedding(pos, positionEmbedding, SparseFormat.DENSE).head());
                mask = causalMask(sub, (int) len, dtype, x.getDevice());
            }
            int n = layers.size() - clipSkip + 1;
            for (int i = 0; i < n; i++) {
                x = layers.get(i).forward(x, mask);
            }
            return finalNorm.forward(x);
        }, ids);
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
}
