package org.diffusionbot.worker.engine.loaders;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.diffusionbot.worker.engine.models.ClipTextConfig;
import org.diffusionbot.worker.engine.models.ReferenceData;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;
import org.diffusionbot.worker.engine.models.UNetConfig;
import org.diffusionbot.worker.engine.models.VaeConfig;

/** The single-file checkpoint layout maps onto the diffusers-named models. */
class SingleFileCheckpointTest {
    @Test
    void tinySingleFileMatchesTheReferences() {
        Path model = ReferenceData.modelDir();
        try (StableDiffusionModels models = SingleFileCheckpoint.load(ReferenceData.root().resolve("single-file.safetensors"),
                        UNetConfig.load(model.resolve("unet/config.json")), VaeConfig.load(model.resolve("vae/config.json")),
                        ClipTextConfig.load(model.resolve("text_encoder/config.json")), DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            ReferenceData.assertClose(ReferenceData.load(m, "text2.penultimate_normed"),
                    models.textEncoder().encode(m, ReferenceData.load(m, "text2.ids"), 2), "text2");
            ReferenceData.assertClose(ReferenceData.load(m, "unet_wide.out"), models.unet().forward(m,
                    ReferenceData.load(m, "unet_wide.sample"), ReferenceData.load(m, "unet_wide.timestep"),
                    ReferenceData.load(m, "unet_wide.context")), "unet_wide");
            ReferenceData.assertClose(ReferenceData.load(m, "vae_encode.mean"),
                    models.vae().encode(m, ReferenceData.load(m, "vae_encode.image")).mean(), "vae encode");
        }
    }

    /** Every full-size SD 1.5 single-file name maps to exactly the diffusers names, shapes included. */
    @Test
    void fullSizeSd15NamesMapOneToOne() throws IOException {
        Path manifest = ReferenceData.root().resolveSibling("full-size").resolve("sd15/manifest.json");
        JsonNode root = new ObjectMapper().readTree(manifest.toFile());
        int layers = root.get("unet").get("config").get("layers_per_block").asInt();
        int vaeBlocks = root.get("vae").get("config").get("block_out_channels").size();
        check(root, "unet", SingleFileCheckpoint.UNET_PREFIX, n -> SingleFileCheckpoint.unetName(n, layers));
        check(root, "vae", SingleFileCheckpoint.VAE_PREFIX, n -> SingleFileCheckpoint.vaeName(n, vaeBlocks));
        check(root, "text_encoder", SingleFileCheckpoint.TEXT_PREFIX, UnaryOperator.identity());
    }

    private static void check(JsonNode root, String component, String prefix, UnaryOperator<String> map) {
        Map<String, String> expected = new TreeMap<>();
        root.get(component).get("tensors").fields().forEachRemaining(e -> expected.put(e.getKey(), e.getValue().toString()));
        Map<String, String> mapped = new TreeMap<>();
        root.get("single_file_keys").get(component).fields().forEachRemaining(e -> {
            assertTrue(e.getKey().startsWith(prefix), e.getKey());
            String name = map.apply(e.getKey().substring(prefix.length()));
            if (name.endsWith("position_ids")) {
                return;
            }
            String shape = e.getValue().toString();
            if (component.equals("vae") && name.matches(".*attentions\\.0\\.to_(q|k|v|out\\.0)\\.weight")) {
                shape = shape.replace(",1,1]", "]");
            }
            mapped.put(name, shape);
        });
        assertEquals(expected, mapped, component);
    }
}
