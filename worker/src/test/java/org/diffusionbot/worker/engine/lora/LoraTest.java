package org.diffusionbot.worker.engine.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.io.SafetensorsWriter;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA files mapped onto the tiny SD 1.5 model: the reference files map completely (as many modules
 * per part as the reference README counts), and each format's delta is the formula of
 * AUTOMATIC1111's network modules, recomputed here with plain loops.
 */
class LoraTest {
    private static final String Q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
    private static final String Q_WEIGHT = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight";
    private static final String CONV = "lora_unet_down_blocks_0_resnets_0_conv1";
    private static final String CONV_WEIGHT = "down_blocks.0.resnets.0.conv1.weight";

    @TempDir
    Path tmp;

    private static NDManager manager;
    private static LoraTargets targets;

    @BeforeAll
    static void setUp() {
        manager = NDManager.newBaseManager(Device.cpu());
        targets = LoraFixtures.tinySd15Targets();
    }

    @AfterAll
    static void tearDown() {
        manager.close();
    }

    @Test
    void everyReferenceFileMapsCompletely() {
        JsonObject files = RefData.json("/reference/lora/cases-sd15.json").getAsJsonObject("files");
        for (String name : new String[] {"sd15_kohya", "sd15_locon", "sd15_peft"}) {
            JsonObject f = files.getAsJsonObject(name);
            try (Lora lora = Lora.open(LoraFixtures.lora(name), name, targets)) {
                JsonObject per = f.getAsJsonObject("modules_per_component");
                assertEquals(per.get("unet").getAsLong(), lora.modulesOf(Part.UNET), name);
                assertEquals(per.get("text_encoder").getAsLong(), lora.modulesOf(Part.TEXT_ENCODER), name);
                Set<String> distinct = new HashSet<>();
                lora.modules().forEach(m -> distinct.add(m.part() + m.parameter()));
                assertEquals(f.get("modules").getAsInt(), distinct.size(), name + ": one module per weight");
                assertEquals(LoraFamily.SD1, lora.family());
            }
        }
    }

    @Test
    void kohyaConvDeltaIsUpTimesDownTimesAlphaOverRank() {
        try (Lora lora = Lora.open(LoraFixtures.lora("sd15_locon"), "sd15_locon", targets)) {
            Lora.Module m = lora.modules().stream().filter(x -> x.parameter().equals(CONV_WEIGHT)).findFirst().orElseThrow();
            LoraDelta.LowRank d = (LoraDelta.LowRank) m.delta();
            float[] up = floats(d.up());
            float[] down = floats(d.down());
            assertEquals(new Shape(4, 32, 3, 3), d.down().shape());
            double scale = d.alpha() / 4.0;
            assertEquals(0.25, scale, 1e-9, "3x3 LoCon: rank 4, alpha 1");
            float[] expected = new float[32 * 32 * 9];
            for (int o = 0; o < 32; o++) {
                for (int j = 0; j < 32 * 9; j++) {
                    double s = 0;
                    for (int r = 0; r < 4; r++) {
                        s += up[o * 4 + r] * down[r * 288 + j];
                    }
                    expected[o * 288 + j] = (float) (s * scale);
                }
            }
            assertClose(expected, m.delta().compute(manager, Device.cpu(), new Shape(32, 32, 3, 3)));
        }
    }

    @Test
    void locoNTuckerDeltaFollowsRebuildCpDecomposition() {
        Random rnd = new Random(1);
        float[] up = random(rnd, 32 * 2);
        float[] mid = random(rnd, 2 * 2 * 9);
        float[] down = random(rnd, 2 * 32);
        Path file = new SafetensorsWriter()
                .addF32(CONV + ".lora_up.weight", new long[] {32, 2, 1, 1}, up)
                .addF32(CONV + ".lora_mid.weight", new long[] {2, 2, 3, 3}, mid)
                .addF32(CONV + ".lora_down.weight", new long[] {2, 32, 1, 1}, down)
                .addF32(CONV + ".alpha", new long[0], 1f)
                .write(tmp.resolve("tucker.safetensors"));
        float[] expected = new float[32 * 32 * 9];
        for (int i = 0; i < 32; i++) {
            for (int j = 0; j < 32; j++) {
                for (int k = 0; k < 9; k++) {
                    double s = 0;
                    for (int n = 0; n < 2; n++) {
                        for (int m = 0; m < 2; m++) {
                            s += mid[(n * 2 + m) * 9 + k] * up[i * 2 + n] * down[m * 32 + j];
                        }
                    }
                    expected[(i * 32 + j) * 9 + k] = (float) (s * 0.5);
                }
            }
        }
        assertClose(expected, onlyDelta(file, CONV_WEIGHT));
    }

    @Test
    void lohaDeltaIsTheHadamardProductOfTwoLowRankProducts() {
        Random rnd = new Random(2);
        float[] w1a = random(rnd, 32 * 2);
        float[] w1b = random(rnd, 2 * 32);
        float[] w2a = random(rnd, 32 * 2);
        float[] w2b = random(rnd, 2 * 32);
        Path file = new SafetensorsWriter()
                .addF32(Q + ".hada_w1_a", new long[] {32, 2}, w1a)
                .addF32(Q + ".hada_w1_b", new long[] {2, 32}, w1b)
                .addF32(Q + ".hada_w2_a", new long[] {32, 2}, w2a)
                .addF32(Q + ".hada_w2_b", new long[] {2, 32}, w2b)
                .addF32(Q + ".alpha", new long[0], 3f)
                .write(tmp.resolve("loha.safetensors"));
        float[] expected = new float[32 * 32];
        for (int o = 0; o < 32; o++) {
            for (int i = 0; i < 32; i++) {
                double a = 0;
                double b = 0;
                for (int r = 0; r < 2; r++) {
                    a += w1a[o * 2 + r] * w1b[r * 32 + i];
                    b += w2a[o * 2 + r] * w2b[r * 32 + i];
                }
                expected[o * 32 + i] = (float) (a * b * 1.5);
            }
        }
        assertClose(expected, onlyDelta(file, Q_WEIGHT));
    }

    @Test
    void lohaTuckerUsesTheCoreWithTransposedAFactors() {
        Random rnd = new Random(5);
        float[][] a = {random(rnd, 2 * 32), random(rnd, 2 * 32)};
        float[][] b = {random(rnd, 2 * 32), random(rnd, 2 * 32)};
        float[][] t = {random(rnd, 2 * 2 * 9), random(rnd, 2 * 2 * 9)};
        SafetensorsWriter w = new SafetensorsWriter();
        for (int f = 0; f < 2; f++) {
            w.addF32(CONV + ".hada_w" + (f + 1) + "_a", new long[] {2, 32}, a[f])
                    .addF32(CONV + ".hada_w" + (f + 1) + "_b", new long[] {2, 32}, b[f])
                    .addF32(CONV + ".hada_t" + (f + 1), new long[] {2, 2, 3, 3}, t[f]);
        }
        Path file = w.write(tmp.resolve("loha-tucker.safetensors"));
        float[] expected = new float[32 * 32 * 9];
        for (int o = 0; o < 32; o++) {
            for (int n = 0; n < 32; n++) {
                for (int k = 0; k < 9; k++) {
                    double prod = 1;
                    for (int f = 0; f < 2; f++) {
                        double s = 0; // make_weight_cp: Σ_ij t[i,j,k] b[j,n] a[i,o]
                        for (int i = 0; i < 2; i++) {
                            for (int j = 0; j < 2; j++) {
                                s += t[f][(i * 2 + j) * 9 + k] * b[f][j * 32 + n] * a[f][i * 32 + o];
                            }
                        }
                        prod *= s;
                    }
                    expected[(o * 32 + n) * 9 + k] = (float) prod; // no alpha: scale 1
                }
            }
        }
        assertClose(expected, onlyDelta(file, CONV_WEIGHT));
    }

    @Test
    void lokrDeltaIsTheKroneckerProduct() {
        Random rnd = new Random(3);
        float[] w1 = random(rnd, 4 * 2);
        float[] w2a = random(rnd, 8 * 3);
        float[] w2b = random(rnd, 3 * 16 * 9);
        Path file = new SafetensorsWriter()
                .addF32(CONV + ".lokr_w1", new long[] {4, 2}, w1)
                .addF32(CONV + ".lokr_w2_a", new long[] {8, 3}, w2a)
                .addF32(CONV + ".lokr_w2_b", new long[] {3, 16, 3, 3}, w2b)
                .addF32(CONV + ".alpha", new long[0], 6f)
                .write(tmp.resolve("lokr.safetensors"));
        float[] w2 = new float[8 * 144];
        for (int c = 0; c < 8; c++) {
            for (int j = 0; j < 144; j++) {
                double s = 0;
                for (int r = 0; r < 3; r++) {
                    s += w2a[c * 3 + r] * w2b[r * 144 + j];
                }
                w2[c * 144 + j] = (float) s;
            }
        }
        float[] expected = new float[32 * 32 * 9];
        for (int o = 0; o < 32; o++) {
            for (int i = 0; i < 32; i++) {
                for (int k = 0; k < 9; k++) {
                    // torch.kron(w1[:, :, None, None], w2 [8, 16, 3, 3]): [o, i, k] = w1[o / 8, i / 16] * w2[o % 8, i % 16, k]
                    double v = w1[(o / 8) * 2 + i / 16] * w2[(o % 8) * 144 + (i % 16) * 9 + k];
                    expected[(o * 32 + i) * 9 + k] = (float) (v * 6 / 3);
                }
            }
        }
        assertClose(expected, onlyDelta(file, CONV_WEIGHT));
    }

    @Test
    void sgmNamesOfTheOriginalUNetMapToDiffusersWeights() {
        LoraKeys keys = new LoraKeys(targets);
        assertEquals(Q_WEIGHT, keys.target("lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q").parameter());
        assertEquals("down_blocks.0.downsamplers.0.conv.weight", keys.target("lora_unet_input_blocks_3_0_op").parameter());
        assertEquals("mid_block.resnets.0.conv1.weight", keys.target("lora_unet_middle_block_0_in_layers_2").parameter());
        assertEquals("mid_block.attentions.0.proj_in.weight", keys.target("lora_unet_middle_block_1_proj_in").parameter());
        assertEquals("up_blocks.1.attentions.2.transformer_blocks.0.ff.net.0.proj.weight",
                keys.target("lora_unet_output_blocks_5_1_transformer_blocks_0_ff_net_0_proj").parameter());
        assertEquals("up_blocks.0.upsamplers.0.conv.weight", keys.target("lora_unet_output_blocks_2_1_conv").parameter());
        assertEquals("up_blocks.1.resnets.0.time_emb_proj.weight", keys.target("lora_unet_output_blocks_3_0_emb_layers_1").parameter());
        assertEquals("time_embedding.linear_1.weight", keys.target("lora_unet_time_embed_0").parameter());
        assertEquals("conv_in.weight", keys.target("lora_unet_input_blocks_0_0").parameter());
        assertEquals(Part.TEXT_ENCODER, keys.target("lora_te_text_model_encoder_layers_3_mlp_fc2").part());
        assertEquals(null, keys.target("lora_unet_input_blocks_1_1_transformer_blocks_0_attn3_to_q"));
    }

    @Test
    void keysThatFitNoWeightAreListedAndTheFileRefused() {
        Path file = new SafetensorsWriter()
                .addF32(Q + ".lora_up.weight", new long[] {32, 1}, new float[32])
                .addF32(Q + ".lora_down.weight", new long[] {1, 32}, new float[32])
                .addF32("lora_unet_down_blocks_7_attentions_0_proj_in.lora_up.weight", new long[] {32, 1}, new float[32])
                .addF32("lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight", new long[] {1, 32}, new float[32])
                .addF32(CONV + ".lora_up.weight", new long[] {16, 1, 1, 1}, new float[16])
                .addF32(CONV + ".lora_down.weight", new long[] {1, 32, 3, 3}, new float[288])
                .addF32(CONV + ".dora_scale", new long[] {32, 1, 1, 1}, new float[32])
                .addF32("some_other_tensor", new long[] {1}, 0f)
                .write(tmp.resolve("partly.safetensors"));
        LoraException e = assertThrows(LoraException.class, () -> Lora.open(file, "partly", targets));
        String msg = e.getMessage();
        assertTrue(msg.startsWith("LoRA partly: 6 of its 8 tensors fit no weight") || msg.contains("fit no weight"), msg);
        assertTrue(msg.contains("lora_unet_down_blocks_7_attentions_0_proj_in: no such module in this model"), msg);
        assertTrue(msg.contains("some_other_tensor: not a LoRA"), msg);
        assertTrue(msg.contains(CONV + ": incomplete or unexpected tensors [dora_scale, lora_down.weight, lora_up.weight]"), msg);
    }

    @Test
    void aShapeThatDoesNotFitTheWeightIsRefused() {
        Path file = new SafetensorsWriter()
                .addF32(CONV + ".lora_up.weight", new long[] {16, 1, 1, 1}, new float[16])
                .addF32(CONV + ".lora_down.weight", new long[] {1, 32, 3, 3}, new float[288])
                .write(tmp.resolve("narrow.safetensors"));
        LoraException e = assertThrows(LoraException.class, () -> Lora.open(file, "narrow", targets));
        assertTrue(e.getMessage().contains(CONV + ": its change has 16 outputs and 4608 elements, the weight "
                + CONV_WEIGHT + " is (32, 32, 3, 3)"), e.getMessage());
    }

    @Test
    void anSdxlLoraIsRefusedOnAnSd1ModelWithItsFamily() {
        Path file = new SafetensorsWriter().metadata("ss_base_model_version", "sdxl_base_v1-0")
                .addF32(Q + ".lora_up.weight", new long[] {32, 1}, new float[32])
                .addF32(Q + ".lora_down.weight", new long[] {1, 32}, new float[32])
                .write(tmp.resolve("xl.safetensors"));
        LoraException e = assertThrows(LoraException.class, () -> Lora.open(file, "xl", targets));
        assertEquals("LoRA xl is for SDXL models; this model is SD 1.x", e.getMessage());
        Path keyed = new SafetensorsWriter()
                .addF32("lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", new long[] {64, 1}, new float[64])
                .addF32("lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", new long[] {1, 32}, new float[32])
                .write(tmp.resolve("te2.safetensors"));
        assertThrows(LoraException.class, () -> Lora.open(keyed, "te2", targets));
    }

    @Test
    void aPickleIsRefusedWithAHint() throws Exception {
        Path pt = tmp.resolve("old.safetensors");
        java.nio.file.Files.write(pt, new byte[] {(byte) 0x80, 2, 'c', 'x', 0, 0, 0, 0, 0, 0});
        LoraException e = assertThrows(LoraException.class, () -> Lora.open(pt, "old", targets));
        assertTrue(e.getMessage().contains("convert it to .safetensors"), e.getMessage());
    }

    private NDArray onlyDelta(Path file, String weight) {
        try (Lora lora = Lora.open(file, "x", targets)) {
            assertEquals(1, lora.modules().size());
            Lora.Module m = lora.modules().get(0);
            assertEquals(weight, m.parameter());
            return m.delta().compute(manager, Device.cpu(), targets.of(Part.UNET).get(weight));
        }
    }

    private static float[] floats(TensorView v) {
        return v.toNDArray(manager, DataType.FLOAT32, Device.cpu()).toFloatArray();
    }

    private static float[] random(Random rnd, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) rnd.nextGaussian();
        }
        return out;
    }

    private static void assertClose(float[] expected, NDArray actual) {
        float[] a = actual.toFloatArray();
        assertEquals(expected.length, a.length);
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
        }
        assertTrue(worst < 1e-5, "differs by " + worst);
    }
}
