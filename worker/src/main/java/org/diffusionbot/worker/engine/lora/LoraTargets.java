package org.diffusionbot.worker.engine.lora;

import ai.djl.ndarray.types.Shape;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

/**
 * The weights a LoRA may patch: for each model part, its parameters by diffusers name (e.g. {@code
 * down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight}, {@code
 * text_model.encoder.layers.0.self_attn.q_proj.weight}) with their shapes, and the model's family.
 *
 * @param family the model's family ({@link LoraFamily})
 * @param parameters name → shape for each part the model has
 */
public record LoraTargets(LoraFamily family, Map<Part, Map<String, Shape>> parameters) {
    /** A part of a Stable Diffusion model, by its diffusers component name. */
    public enum Part {
        UNET("unet"),
        TEXT_ENCODER("text_encoder"),
        TEXT_ENCODER_2("text_encoder_2");

        private final String component;

        Part(String component) {
            this.component = component;
        }

        /** @return the diffusers component name ({@code unet}, {@code text_encoder}, {@code text_encoder_2}) */
        public String component() {
            return component;
        }
    }

    public LoraTargets {
        EnumMap<Part, Map<String, Shape>> copy = new EnumMap<>(Part.class);
        parameters.forEach((p, m) -> copy.put(p, Map.copyOf(m)));
        parameters = Collections.unmodifiableMap(copy);
    }

    /** @return the parameters of a part (empty if the model lacks it) */
    public Map<String, Shape> of(Part part) {
        return parameters.getOrDefault(part, Map.of());
    }
}
