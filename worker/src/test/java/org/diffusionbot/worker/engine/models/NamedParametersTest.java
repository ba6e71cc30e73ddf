package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.worker.engine.io.SafetensorsWriter;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.lora.PatchableModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A loaded model's parameters by diffusers name: every tensor of the file is there with its value
 * (fused and pre-scaled attention projections included); a patch in place gives the model built from
 * the patched weights, and a restore gives back the original bit for bit, on the same arrays; LoRA
 * terms added in float16 give the float32 sum rounded once (DJL's path; the native one is checked on
 * the GPU by the bench's runs).
 */
class NamedParametersTest {
    private static final Path UNET_FILE = ReferenceData.modelDir().resolve("unet/diffusion_pytorch_model.safetensors");
    /** Self-attention q (fused q|k|v, pre-scaled), cross-attention k and v (fused k|v), a conv, a bias, a GroupNorm. */
    private static final List<String> PATCHED = List.of(
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight",
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v.weight",
            "mid_block.attentions.0.transformer_blocks.0.attn2.to_q.weight",
            "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight",
            "up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v.weight",
            "down_blocks.1.resnets.0.conv1.weight",
            "up_blocks.2.resnets.1.conv2.bias",
            "mid_block.resnets.0.norm1.weight");

    @TempDir
    Path tmp;

    private static UNet2DConditionModel unet(Path file, NDManager m) {
        UNetConfig cfg = UNetConfig.load(ReferenceData.modelDir().resolve("unet/config.json"));
        try (Weights w = Weights.open(file)) {
            UNet2DConditionModel u = new UNet2DConditionModel(cfg, w, m, DataType.FLOAT32, Device.cpu());
            w.verify();
            return u;
        }
    }

    private static float[] out(UNet2DConditionModel u, NDManager m) {
        return u.forward(m, ReferenceData.load(m, "unet0.sample"), ReferenceData.load(m, "unet0.timestep"),
                ReferenceData.load(m, "unet0.context")).toFloatArray();
    }

    private static Map<String, float[]> snapshot(NamedParameters p) {
        Map<String, float[]> out = new LinkedHashMap<>();
        p.all().forEach((n, par) -> out.put(n, par.storage().toType(DataType.FLOAT32, true).toFloatArray()));
        return out;
    }

    @Test
    void everyTensorOfTheFileIsAParameterWithItsValue() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu()); Weights w = Weights.open(UNET_FILE)) {
            NamedParameters p = unet(UNET_FILE, m).parameters();
            assertEquals(w.names(), p.all().keySet());
            for (String n : w.names()) {
                assertEquals(w.get(n).shape(), p.get(n).shape(), n);
                float[] file = w.get(n).toNDArray(m, DataType.FLOAT32, Device.cpu()).toFloatArray();
                float[] value = p.get(n).value(m).toFloatArray();
                double max = 0;
                double diff = 0;
                for (int i = 0; i < file.length; i++) {
                    max = Math.max(max, Math.abs(file[i]));
                    diff = Math.max(diff, Math.abs(file[i] - value[i]));
                }
                assertTrue(diff <= 1e-6 * Math.max(1, max), n + ": differs by " + diff);
            }
        }
    }

    @Test
    void aPatchInPlaceEqualsTheModelOfThePatchedWeightsAndRestoreIsBitExact() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            UNet2DConditionModel u = unet(UNET_FILE, m);
            NamedParameters p = u.parameters();
            float[] before = out(u, m);
            Map<String, float[]> stored = snapshot(p);
            Map<String, NDArray> storageObjects = new LinkedHashMap<>();
            p.all().forEach((n, par) -> storageObjects.put(n, par.storage()));

            // the same deltas merged into a weights file
            ai.djl.engine.Engine.getInstance().setRandomSeed(12);
            SafetensorsWriter merged = new SafetensorsWriter();
            Map<String, NDArray> deltas = new LinkedHashMap<>();
            try (Weights w = Weights.open(UNET_FILE)) {
                for (String n : w.names()) {
                    if (!PATCHED.contains(n)) {
                        merged.add(n, w.get(n));
                        continue;
                    }
                    NDArray d = m.randomNormal(0, 0.05f, w.get(n).shape(), DataType.FLOAT32);
                    deltas.put(n, d);
                    float[] sum = w.get(n).toNDArray(m, DataType.FLOAT32, Device.cpu()).add(d).toFloatArray();
                    ByteBuffer b = ByteBuffer.allocate(sum.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                    b.asFloatBuffer().put(sum);
                    merged.add(n, "F32", w.get(n).shape().getShape(), b.array());
                }
            }
            Path mergedFile = merged.write(tmp.resolve("merged.safetensors"));
            float[] expected = out(unet(mergedFile, m), m);

            deltas.forEach((n, d) -> p.get(n).add(d));
            assertTrue(p.patched());
            float[] patched = out(u, m);
            assertFalse(java.util.Arrays.equals(before, patched), "the patch must change the output");
            double diff = 0;
            for (int i = 0; i < expected.length; i++) {
                diff = Math.max(diff, Math.abs(expected[i] - patched[i]));
            }
            assertTrue(diff <= 1e-5, "patched in place vs built from the patched weights: " + diff);

            p.restoreAll();
            assertFalse(p.patched());
            assertArrayEquals(before, out(u, m), "restored output bit-identical");
            Map<String, float[]> restored = snapshot(p);
            stored.forEach((n, v) -> assertArrayEquals(v, restored.get(n), n + " restored bit-identical"));
            p.all().forEach((n, par) -> assertSame(storageObjects.get(n), par.storage(), n + " is the same array"));
        }
    }

    @Test
    void lowRankChangesInFloat16AreTheFloat32SumRoundedOnceAndComeOffBitForBit() {
        UNetConfig cfg = UNetConfig.load(ReferenceData.modelDir().resolve("unet/config.json"));
        try (NDManager m = NDManager.newBaseManager(Device.cpu()); Weights w = Weights.open(UNET_FILE)) {
            NamedParameters p = new UNet2DConditionModel(cfg, w, m, DataType.FLOAT16, Device.cpu()).parameters();
            Map<String, byte[]> before = new LinkedHashMap<>();
            p.all().forEach((n, par) -> before.put(n, par.stored(m).toByteArray()));
            // the fused, pre-scaled q; k of a fused k|v; a 3x3 conv (LoCon); two terms on one of them
            List<String> names = List.of(PATCHED.get(0), PATCHED.get(3), PATCHED.get(5));
            ai.djl.engine.Engine.getInstance().setRandomSeed(7);
            List<Parameter> params = new java.util.ArrayList<>();
            List<List<PatchableModel.Term>> terms = new java.util.ArrayList<>();
            Map<String, byte[]> expected = new LinkedHashMap<>();
            for (int i = 0; i < names.size(); i++) {
                Parameter par = p.get(names.get(i));
                long rows = par.shape().get(0);
                long cols = par.shape().size() / rows;
                List<PatchableModel.Term> t = new java.util.ArrayList<>();
                NDArray sum = null;
                for (int k = 0; k <= (i == 0 ? 1 : 0); k++) {
                    NDArray up = m.randomNormal(0, 0.2f, new Shape(rows, 4), DataType.FLOAT32).toType(
                            k == 1 ? DataType.FLOAT16 : DataType.FLOAT32, false); // a float16 file's factor too
                    NDArray down = m.randomNormal(0, 0.2f, new Shape(4, cols), DataType.FLOAT32);
                    double scale = k == 0 ? 0.7 : -1.3;
                    t.add(new PatchableModel.Term(up, down, scale));
                    NDArray x = up.toType(DataType.FLOAT32, false).mul((float) (scale * par.storedScale())).matMul(down);
                    sum = sum == null ? x : sum.add(x);
                }
                params.add(par);
                terms.add(t);
                expected.put(names.get(i), par.stored(m).toType(DataType.FLOAT32, false).add(sum.reshape(par.shape()))
                        .toType(DataType.FLOAT16, false).toByteArray());
            }
            expected.forEach((n, e) -> assertFalse(java.util.Arrays.equals(before.get(n), e), n + " changes"));
            Parameter.addAll(params, terms);
            Map<String, byte[]> once = new LinkedHashMap<>();
            p.all().forEach((n, par) -> {
                byte[] now = par.stored(m).toByteArray();
                once.put(n, now);
                assertArrayEquals(expected.getOrDefault(n, before.get(n)), now, n + ": the float32 sum rounded once");
            });
            p.restoreAll();
            p.all().forEach((n, par) -> assertArrayEquals(before.get(n), par.stored(m).toByteArray(), n + " restored"));
            Parameter.addAll(params, terms);
            p.all().forEach((n, par) -> assertArrayEquals(once.get(n), par.stored(m).toByteArray(), n + " again"));
            p.restoreAll();
            assertFalse(p.patched());
        }
    }

    @Test
    void aDeltaOfAnotherShapeIsRefused() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Parameter q = unet(UNET_FILE, m).parameters().get(PATCHED.get(0));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> q.add(m.zeros(new Shape(3, 3))));
            assertTrue(e.getMessage().startsWith(PATCHED.get(0) + ": a delta of shape (3, 3)"), e.getMessage());
            assertFalse(q.patched());
        }
    }
}
