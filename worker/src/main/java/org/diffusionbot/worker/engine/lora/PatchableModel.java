package org.diffusionbot.worker.engine.lora;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;

/**
 * The weights of a loaded model as a LoRA patch sees them: by part and diffusers name, changed in
 * place (the arrays the layers compute with stay the same objects, so captured CUDA graphs stay
 * valid) and restored bit for bit.
 *
 * <p>Not thread-safe: patch only while no forward pass runs.
 */
public interface PatchableModel {
    /** @return the model's family and the shape of every weight a LoRA may patch, by part and name */
    LoraTargets targets();

    /**
     * Adds {@code delta} to a weight in place. The first change of a weight since the last {@link
     * #restore} keeps its original values.
     *
     * @param part the model part
     * @param name the weight's diffusers name (a key of {@link LoraTargets#of})
     * @param delta float32, of the weight's shape (from {@link #targets()}), any device
     * @throws IllegalArgumentException for an unknown name or another shape
     */
    void add(Part part, String name, NDArray delta);

    /** Writes back the original of every weight changed since the last restore, bit-identical. */
    void restore();
}
