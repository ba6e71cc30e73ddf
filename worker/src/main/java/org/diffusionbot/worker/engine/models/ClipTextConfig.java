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
 */
public record ClipTextConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int maxPositionEmbeddings,
        String hiddenAct,
        double layerNormEps) {

    /** Validates the values. */
    public ClipTextConfig {
        if (!hiddenAct.equals("quick_gelu") && !hiddenAct.equals("gelu")) {
            throw new IllegalArgumentException("unsupported CLIP hidden_act " + hiddenAct);
        }
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " not divisible by heads " + numAttentionHeads);
        }
    }

    /**
     * @param source name used in error messages
     * @param json contents of {@code config.json}
     * @return the config
     */
    public static ClipTextConfig parse(String source, String json) {
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
                c.number("layer_norm_eps", 1e-5));
    }

    /**
     * @param file a {@code config.json}
     * @return the config
     */
    public static ClipTextConfig load(Path file) {
        return parse(file.toString(), ConfigJson.text(file));
    }
}
