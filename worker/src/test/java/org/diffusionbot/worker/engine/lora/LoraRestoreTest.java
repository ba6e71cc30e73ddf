package org.diffusionbot.worker.engine.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.HashMap;
import java.util.Map;
import org.diffusionbot.common.LoraTags;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.models.NamedParameters;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;

/**
 * LoRA sets switched on the real tiny SD 1.5 model (its named parameters, fused attention included): every
 * parameter of the UNet and the text encoder is bit-identical to the checkpoint's after any sequence of sets
 * (kohya, LoCon, PEFT, two at once, negative weights) is taken off, and a set put on again gives the same bits.
 */
class LoraRestoreTest {
    private static Map<String, byte[]> snapshot(StableDiffusionModels models, NDManager m) {
        Map<String, byte[]> out = new HashMap<>();
        for (Map.Entry<String, NamedParameters> part : Map.of("unet", models.unet().parameters(), "te",
                models.textEncoder().parameters()).entrySet()) {
            part.getValue().all().forEach((name, p) -> out.put(part.getKey() + name, p.value(m).toByteArray()));
        }
        return out;
    }

    private static void assertSame(Map<String, byte[]> a, Map<String, byte[]> b, String what) {
        assertEquals(a.keySet(), b.keySet());
        a.forEach((k, v) -> assertArrayEquals(v, b.get(k), what + ": " + k));
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"<lora:sd15_kohya:1>", "<lora:sd15_locon:-0.5>",
        "<lora:sd15_peft:0.7:-1>", "<lora:sd15_peft:1>"})
    void oneSetOnAndOff(String set) {
        try (StableDiffusionPipeline p = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Map<String, byte[]> checkpoint = snapshot(p.models(), m);
            assertSame(checkpoint, snapshot(p.models(), m), "reading twice");
            try (LoraPatcher patcher = new LoraPatcher(p.models().patchable(),
                    new ModelFolder(LoraFixtures.dir().resolve("loras"), "LoRA"), Device.cpu())) {
                patcher.apply(LoraTags.set(set, ""));
                patcher.apply(Map.of());
                assertSame(checkpoint, snapshot(p.models(), m), set);
            }
        }
    }

    @Test
    void switchingSetsOnTheRealModelRestoresTheCheckpointBitForBit() {
        try (StableDiffusionPipeline p = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Map<String, byte[]> checkpoint = snapshot(p.models(), m);
            String[] sets = {"<lora:sd15_kohya:1>", "<lora:sd15_locon:-0.5>", "<lora:sd15_kohya:0.6> <lora:sd15_locon:0.8>",
                "<lora:sd15_peft:0.7:-1>", ""};
            Map<String, byte[]> firstKohya = null;
            try (LoraPatcher patcher = new LoraPatcher(p.models().patchable(),
                    new ModelFolder(LoraFixtures.dir().resolve("loras"), "LoRA"), Device.cpu())) {
                for (int i = 0; i < 25; i++) {
                    String set = sets[i % sets.length];
                    patcher.apply(LoraTags.set(set, ""));
                    if (i % sets.length == 0) {
                        Map<String, byte[]> now = snapshot(p.models(), m);
                        if (firstKohya == null) {
                            firstKohya = now;
                            assertTrue(!java.util.Arrays.equals(checkpoint.get(
                                    "unetdown_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"), now.get(
                                    "unetdown_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight")),
                                    "the LoRA changes the fused, pre-scaled q");
                        } else {
                            assertSame(firstKohya, now, "the same set again, switch " + i);
                        }
                    }
                    if (set.isEmpty()) {
                        assertSame(checkpoint, snapshot(p.models(), m), "no set, switch " + i);
                    }
                }
                org.junit.jupiter.api.Assertions.assertEquals(25, patcher.switches(), "each apply of another set is a switch");
                patcher.apply(LoraTags.set(sets[24 % sets.length], ""));
                org.junit.jupiter.api.Assertions.assertEquals(25, patcher.switches(), "the set already on is no switch");
            }
            assertSame(checkpoint, snapshot(p.models(), m), "after the patcher is closed");
        }
    }
}
