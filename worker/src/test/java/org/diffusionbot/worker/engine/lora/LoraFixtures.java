package org.diffusionbot.worker.engine.lora;

import ai.djl.ndarray.types.Shape;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.io.SafetensorsFile;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;

/** The LoRA reference files and the tiny SD 1.5 model's weight names, for the LoRA tests. */
final class LoraFixtures {
    private LoraFixtures() {}

    static Path dir() {
        try {
            return Path.of(LoraFixtures.class.getResource("/reference/lora").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Path lora(String name) {
        return dir().resolve("loras").resolve(name + ".safetensors");
    }

    /** The tiny SD 1.5 model's UNet and text encoder weights, read from its files' headers. */
    static LoraTargets tinySd15Targets() {
        Map<Part, Map<String, Shape>> parts = new EnumMap<>(Part.class);
        parts.put(Part.UNET, shapes(TinyModels.folderPath().resolve("unet/diffusion_pytorch_model.safetensors")));
        parts.put(Part.TEXT_ENCODER, shapes(TinyModels.folderPath().resolve("text_encoder/model.safetensors")));
        return new LoraTargets(LoraFamily.SD1, parts);
    }

    private static Map<String, Shape> shapes(Path file) {
        Map<String, Shape> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (TensorView v : f.tensors().values()) {
                out.put(v.name(), v.shape());
            }
        }
        return out;
    }
}
