package org.diffusionbot.worker.engine.models;

import java.nio.file.Path;
import org.diffusionbot.worker.engine.loaders.ConfigJson;

/**
 * Configuration of a CLIP text transformer ({@code text_encoder/config.json} of transformers'
 * {@code CLIPTextConfig}); absent fields take the transformers defaults.
 *
 * @param vocabSize token vocabulary size
 * @param hiddenSize width of the hidden states
 * @param intermediateSize width of the MLP
 * @param numHiddenLayers number of transformer layers
 * @param numAttentionHeads attention heads per layer
 * @param maxPositionEmbeddings sequence length (77)
 * @param hiddenAct {@code quick_gelu} (SD 1.x) or {@code gelu} (SD 2.x OpenCLIP)
 * @param layerNormEps layer norm epsilon
 * @param projectionDim width of {@code text_projection} for {@code CLIPTextModelWithProjection}
 *     (SDXL's second encoder), 0 for a plain {@code CLIPTextModel}
 * @param eosTokenId the {@code <|endoftext|>} id the pooled output is taken at (transformers: the first
 *     such token; the legacy value 2 means the position of the highest id)
 */
public record ClipTextConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int maxPositionEmbeddings,
        String hiddenAct,
        double layerNormEps,
        int projectionDim,
        int eosTokenId) {

    /** transformers' {@code eos_token_id} default. */
    public static final int DEFAULT_EOS = 49407;

    /** A plain {@code CLIPTextModel} (no projection). */
    public ClipTextConfig(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
            int maxPositionEmbeddings, String hiddenAct, double layerNormEps) {
        this(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, maxPositionEmbeddings, hiddenAct,
                layerNormEps, 0, DEFAULT_EOS);
    }

    /** Validates the values. */
    public ClipTextConfig {
        if (!hiddenAct.equals("quick_gelu") && !hiddenAct.equals("gelu")) {
            throw new IllegalArgumentException("unsupported CLIP hidden_act " + hiddenAct);
        }
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " not divisible by heads " + numAttentionHeads);
        }
        if (projectionDim < 0) {
            throw new IllegalArgumentException("projection_dim must be ≥ 0, got " + projectionDim);
        }
    }

    /** The same encoder with a {@code text_projection} of the given width (SDXL's OpenCLIP ViT-bigG). */
    public ClipTextConfig withProjection(int dim) {
        return new ClipTextConfig(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
                maxPositionEmbeddings, hiddenAct, layerNormEps, dim, eosTokenId);
    }

    /**
     * @param source name used in error messages
     * @param json contents of {@code config.json}; {@code projection_dim} counts only when {@code
     *     architectures} names {@code CLIPTextModelWithProjection} (a plain CLIPTextModel config carries
     *     the field too)
     * @return the config
     */
    public static ClipTextConfig parse(String source, String json) {
        return parse(source, json, false);
    }

    /**
     * @param source name used in error messages
     * @param json contents of {@code config.json}
     * @param withProjection read {@code projection_dim} whatever {@code architectures} says (a pipeline
     *     that declares the encoder {@code CLIPTextModelWithProjection}, as SDXL's {@code text_encoder_2})
     * @return the config
     */
    public static ClipTextConfig parse(String source, String json, boolean withProjection) {
        ConfigJson c = ConfigJson.parse(source, json);
        String act = c.string("hidden_act", "quick_gelu");
        if (!act.equals("quick_gelu") && !act.equals("gelu")) {
            throw c.unsupported("hidden_act " + act);
        }
        return new ClipTextConfig(
                c.integer("vocab_size", 49408),
                c.integer("hidden_size", 512),
                c.integer("intermediate_size", 2048),
                c.integer("num_hidden_layers", 12),
                c.integer("num_attention_heads", 8),
                c.integer("max_position_embeddings", 77),
                act,
                c.number("layer_norm_eps", 1e-5),
                withProjection || c.strings("architectures", java.util.List.of()).contains("CLIPTextModelWithProjection")
                        ? c.integer("projection_dim", 512) : 0,
                c.integer("eos_token_id", DEFAULT_EOS));
    }

    /**
     * @param file a {@code config.json}
     * @return the config
     */
    public static ClipTextConfig load(Path file) {
        return parse(file.toString(), ConfigJson.text(file));
    }
}
