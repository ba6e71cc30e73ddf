package org.diffusionbot.worker.engine.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.diffusionbot.common.LoraTags;
import org.diffusionbot.worker.engine.io.SafetensorsWriter;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA sets put on the tiny SD 1.5 model's weights and taken off again: the patched weights are the
 * checkpoint's plus the weighted deltas (two LoRAs add theirs; UNet and text encoder take their own
 * weights), a refused set leaves the checkpoint untouched, and after any number of switches the
 * weights are bit-identical to the checkpoint's (float16 storage, where rounding would show).
 */
class LoraPatcherTest {
    private static final String Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight";
    private static final String TE_Q = "text_model.encoder.layers.0.self_attn.q_proj.weight";

    @TempDir
    Path tmp;

    private NDManager manager;
    private ArrayModel model;

    /**
     * The weights as arrays in the model's dtype, as the engine holds them; a patch adds in float32
     * and stores in the dtype, the first patch of a weight keeps a copy that restore writes back.
     */
    static final class ArrayModel implements PatchableModel {
        final LoraTargets targets;
        final Map<String, NDArray> weights = new HashMap<>();
        final Map<String, NDArray> originals = new HashMap<>();
        int adds;

        ArrayModel(NDManager m, LoraTargets targets, DataType dtype, long seed) {
            this.targets = targets;
            Random rnd = new Random(seed);
            targets.parameters().forEach((part, params) -> params.forEach((name, shape) -> {
                float[] v = new float[(int) shape.size()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) rnd.nextGaussian() * 0.05f;
                }
                weights.put(part + name, m.create(v, shape).toType(dtype, false));
            }));
        }

        @Override
        public LoraTargets targets() {
            return targets;
        }

        @Override
        public void add(Part part, String name, NDArray delta) {
            NDArray w = weights.get(part + name);
            if (!delta.getShape().equals(w.getShape())) {
                throw new IllegalArgumentException(name + ": " + delta.getShape() + " vs " + w.getShape());
            }
            originals.computeIfAbsent(part + name, k -> {
                NDArray c = w.duplicate();
                c.attach(w.getManager());
                return c;
            });
            NDArray sum = w.toType(DataType.FLOAT32, true).addi(delta).toType(w.getDataType(), false);
            w.set(new ai.djl.ndarray.index.NDIndex(":"), sum);
            adds++;
        }

        @Override
        public void restore() {
            originals.forEach((k, o) -> weights.get(k).set(new ai.djl.ndarray.index.NDIndex(":"), o));
            originals.clear();
        }

        Map<String, byte[]> snapshot() {
            Map<String, byte[]> out = new HashMap<>();
            weights.forEach((k, v) -> out.put(k, v.toByteArray()));
            return out;
        }
    }

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager(Device.cpu());
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    private static Map<String, LoraTags.Lora> set(String prompt) {
        return LoraTags.set(prompt, "");
    }

    private static float[] f32(NDArray a) {
        return a.toType(DataType.FLOAT32, true).toFloatArray();
    }

    @Test
    void twoLorasAddTheirWeightedDeltasAndTheTextEncoderTakesItsOwnWeight() {
        LoraTargets targets = LoraFixtures.tinySd15Targets();
        model = new ArrayModel(manager, targets, DataType.FLOAT32, 1);
        ModelFolder folder = new ModelFolder(LoraFixtures.dir().resolve("loras"), "LoRA");
        float[] q0 = f32(model.weights.get(Part.UNET + Q));
        float[] te0 = f32(model.weights.get(Part.TEXT_ENCODER + TE_Q));
        try (LoraPatcher patcher = new LoraPatcher(model, folder, Device.cpu());
                Lora kohya = Lora.open(LoraFixtures.lora("sd15_kohya"), "sd15_kohya", targets);
                Lora peft = Lora.open(LoraFixtures.lora("sd15_peft"), "sd15_peft", targets)) {
            patcher.apply(set("<lora:SD15_KOHYA:0.6:-0.5> <lora:sd15_peft:0.8>"));
            float[] dk = delta(kohya, Part.UNET, Q, targets);
            float[] dp = delta(peft, Part.UNET, Q, targets);
            float[] tk = delta(kohya, Part.TEXT_ENCODER, TE_Q, targets);
            float[] tp = delta(peft, Part.TEXT_ENCODER, TE_Q, targets);
            float[] q = f32(model.weights.get(Part.UNET + Q));
            float[] te = f32(model.weights.get(Part.TEXT_ENCODER + TE_Q));
            for (int i = 0; i < q.length; i++) {
                assertEquals(q0[i] - 0.5 * dk[i] + 0.8 * dp[i], q[i], 1e-6, "UNet q at " + i);
            }
            for (int i = 0; i < te.length; i++) {
                assertEquals(te0[i] + 0.6 * tk[i] + 0.8 * tp[i], te[i], 1e-6, "text encoder q at " + i);
            }
            assertEquals("sd15_kohya: " + folder.loraHash(LoraFixtures.lora("sd15_kohya"), null) + ", sd15_peft: "
                    + folder.loraHash(LoraFixtures.lora("sd15_peft"), null), patcher.loraHashes());
            int adds = model.adds;
            patcher.apply(set("<lora:sd15_peft:0.8><lora:sd15_kohya:0.6:-0.5>"));
            assertEquals(adds, model.adds, "the same set again changes nothing");
            patcher.apply(Map.of());
            assertArrayEquals(q0, f32(model.weights.get(Part.UNET + Q)));
            assertNull(patcher.loraHashes());
        }
    }

    private float[] delta(Lora lora, Part part, String name, LoraTargets targets) {
        Lora.Module m = lora.modules().stream().filter(x -> x.part() == part && x.parameter().equals(name))
                .findFirst().orElseThrow();
        return m.delta().compute(manager, Device.cpu(), targets.of(part).get(name)).toFloatArray();
    }

    @Test
    void aRefusedSetLeavesTheCheckpointsWeights() throws Exception {
        LoraTargets targets = LoraFixtures.tinySd15Targets();
        model = new ArrayModel(manager, targets, DataType.FLOAT32, 2);
        Path dir = Files.createDirectories(tmp.resolve("loras"));
        Files.copy(LoraFixtures.lora("sd15_kohya"), dir.resolve("Style.safetensors"));
        Files.writeString(dir.resolve("old.pt"), "pickle");
        Map<String, byte[]> before = model.snapshot();
        try (LoraPatcher patcher = new LoraPatcher(model, new ModelFolder(dir, "LoRA"), Device.cpu())) {
            patcher.apply(set("<lora:style:1>"));
            LoraException unknown = assertThrows(LoraException.class, () -> patcher.apply(set("<lora:styel:1>")));
            assertEquals("unknown LoRA styel; closest: Style", unknown.getMessage());
            assertEquals(set("<lora:style:1>"), patcher.current(), "a refused set changes nothing");
            assertTrue(assertThrows(LoraException.class, () -> patcher.apply(set("<lora:old:1>"))).getMessage()
                    .contains("pickled file"));
        }
        assertBitIdentical(before, model.snapshot(), "closing the patcher restores the checkpoint");
    }

    @Test
    void tenThousandSwitchesLeaveTheWeightsBitIdenticalInFloat16() throws Exception {
        LoraTargets targets = LoraFixtures.tinySd15Targets();
        model = new ArrayModel(manager, targets, DataType.FLOAT16, 3);
        Path dir = Files.createDirectories(tmp.resolve("small"));
        Random rnd = new Random(4);
        for (String name : List.of("a", "b")) {
            String k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
            new SafetensorsWriter()
                    .addF32(k + ".lora_up.weight", new long[] {32, 2}, random(rnd, 64))
                    .addF32(k + ".lora_down.weight", new long[] {2, 32}, random(rnd, 64))
                    .addF32(k + ".alpha", new long[0], 1f)
                    .write(dir.resolve(name + ".safetensors"));
        }
        Map<String, byte[]> checkpoint = model.snapshot();
        byte[] q = checkpoint.get(Part.UNET + Q);
        try (LoraPatcher patcher = new LoraPatcher(model, new ModelFolder(dir, "LoRA"), Device.cpu())) {
            patcher.apply(set("<lora:a:0.7>"));
            byte[] withA = model.weights.get(Part.UNET + Q).toByteArray();
            assertTrue(!java.util.Arrays.equals(q, withA), "the LoRA changes the weight");
            for (int i = 0; i < 10_000; i++) {
                patcher.apply(set(i % 3 == 0 ? "<lora:a:0.7>" : i % 3 == 1 ? "<lora:b:-1.3> <lora:a:0.2>" : ""));
                if (i % 3 == 0) {
                    assertArrayEquals(withA, model.weights.get(Part.UNET + Q).toByteArray(), "set a at switch " + i);
                }
            }
            patcher.apply(Map.of());
            assertBitIdentical(checkpoint, model.snapshot(), "after 10,000 switches");
        }
    }

    @Test
    void factorsOnTheDeviceWithinTheBudgetGiveTheSameBitsAsReadingTheFiles() {
        LoraTargets targets = LoraFixtures.tinySd15Targets();
        ModelFolder folder = new ModelFolder(LoraFixtures.dir().resolve("loras"), "LoRA");
        long kohya;
        long peft;
        try (Lora k = Lora.open(LoraFixtures.lora("sd15_kohya"), "sd15_kohya", targets);
                Lora p = Lora.open(LoraFixtures.lora("sd15_peft"), "sd15_peft", targets)) {
            kohya = k.factorBytes(false);
            peft = p.factorBytes(false);
        }
        assertTrue(kohya > 0 && peft > 0);
        List<String> sets = List.of("<lora:sd15_kohya:0.6:-0.5>", "<lora:sd15_peft:0.8>",
                "<lora:sd15_kohya:0.6:-0.5> <lora:sd15_peft:0.8>");
        Map<String, Map<String, byte[]>> fromFiles = new HashMap<>();
        model = new ArrayModel(manager, targets, DataType.FLOAT16, 5);
        try (LoraPatcher patcher = new LoraPatcher(model, folder, Device.cpu(), 0)) {
            for (String s : sets) {
                patcher.apply(set(s));
                fromFiles.put(s, model.snapshot());
                assertEquals(0, patcher.uploadedBytes(), "no budget: nothing kept");
            }
        }
        long budget = Math.max(kohya, peft); // one of the two at a time
        try (LoraPatcher patcher = new LoraPatcher(model, folder, Device.cpu(), budget)) {
            patcher.apply(set(sets.get(0)));
            assertEquals(kohya, patcher.uploadedBytes());
            assertBitIdentical(fromFiles.get(sets.get(0)), model.snapshot(), "kohya from the device");
            patcher.apply(set(sets.get(1)));
            assertEquals(peft, patcher.uploadedBytes(), "the LoRA outside the set makes room");
            assertBitIdentical(fromFiles.get(sets.get(1)), model.snapshot(), "peft from the device");
            patcher.apply(set(sets.get(2)));
            assertTrue(patcher.uploadedBytes() <= budget, "both do not fit: one is read from its file");
            assertBitIdentical(fromFiles.get(sets.get(2)), model.snapshot(), "one from the device, one from the file");
        }
        try (LoraPatcher patcher = new LoraPatcher(model, folder, Device.cpu())) {
            patcher.apply(set(sets.get(2)));
            assertEquals(kohya + peft, patcher.uploadedBytes(), "the default budget holds both");
            assertBitIdentical(fromFiles.get(sets.get(2)), model.snapshot(), "both from the device");
        }
    }

    private static void assertBitIdentical(Map<String, byte[]> a, Map<String, byte[]> b, String what) {
        assertEquals(a.keySet(), b.keySet());
        a.forEach((k, v) -> assertArrayEquals(v, b.get(k), what + ": " + k));
    }

    private static float[] random(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian() * 0.2f;
        }
        return v;
    }
}
