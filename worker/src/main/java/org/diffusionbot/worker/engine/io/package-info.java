/**
 * Reading model weights: {@link org.diffusionbot.worker.engine.io.SafetensorsFile} (memory-mapped,
 * validated safetensors reader that refuses pickled checkpoints), {@link
 * org.diffusionbot.worker.engine.io.Weights} (named tensors with missing / unexpected / shape
 * bookkeeping, renaming and prefix subsets for other checkpoint layouts) and {@link
 * org.diffusionbot.worker.engine.io.ModelFormatException}.
 */
package org.diffusionbot.worker.engine.io;
