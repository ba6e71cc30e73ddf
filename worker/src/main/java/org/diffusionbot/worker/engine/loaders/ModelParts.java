package org.diffusionbot.worker.engine.loaders;

import java.util.List;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.ClipTextConfig;
import org.diffusionbot.worker.engine.models.UNetConfig;
import org.diffusionbot.worker.engine.models.VaeConfig;

/**
 * A model as named tensors, the one state both layouts are read into before anything is built
 * ({@link DiffusersLoader#parts}, {@link SingleFileCheckpoint#parts}; then {@link ModelAssembly}):
 * per part its config and its tensors under diffusers names. Nothing is read into memory yet: the
 * tensors are views of the open files.
 *
 * @param source the model, for messages
 * @param text the (first) CLIP text encoder
 * @param text2 SDXL's second text encoder (with projection), or null
 * @param unet the UNet
 * @param vae the VAE; its weights are null when a separate VAE replaces it (the config still gives
 *     the scaling factor and {@code force_upcast})
 * @param opened the files opened for these parts, closed by {@link #close} (none when the caller owns them)
 */
record ModelParts(String source, Part<ClipTextConfig> text, Part<ClipTextConfig> text2, Part<UNetConfig> unet,
        Part<VaeConfig> vae, List<Weights> opened) implements AutoCloseable {

    /** One part: its config and its tensors (diffusers names). */
    record Part<C>(C config, Weights weights) {
    }

    @Override
    public void close() {
        opened.forEach(Weights::close);
    }
}
