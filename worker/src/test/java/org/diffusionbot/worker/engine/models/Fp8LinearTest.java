package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;
import org.diffusionbot.worker.engine.lora.PatchableModel;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;

/**
 * The FP8 linears' CPU-testable parts ({@link Fp8Linear}): the LayerNorm's affine folded into the linear after it, the
 * input scale, where the path applies, and the LoRA hook that marks the companions stale after UNet patches and their
 * restore, which the next UNet call recomputes once.
 */
class Fp8LinearTest {
    /** ‖a − b‖ / ‖b‖ in float32. */
    private static float relative(NDArray a, NDArray b) {
        return a.sub(b).norm().getFloat() / b.norm().getFloat();
    }

    @Test
    void theFoldedLinearOfTheBareNormIsTheLinearOfTheNorm() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            for (boolean withBias : new boolean[] {true, false}) {
                long k = 64;
                long n = 48;
                NDArray x = m.randomNormal(0f, 3f, new Shape(2, 7, k), DataType.FLOAT32).add(5f);
                NDArray w = m.randomNormal(0f, 0.2f, new Shape(n, k), DataType.FLOAT32);
                NDArray b = withBias ? m.randomNormal(new Shape(n)) : null;
                NDArray gamma = m.randomNormal(1f, 0.5f, new Shape(k), DataType.FLOAT32);
                NDArray beta = m.randomNormal(new Shape(k));
                Shape norm = new Shape(k);
                // diffusers: ff.net.0.proj(norm3(x)), attn1.to_qkv(norm1(x)): the norm with its affine, then the linear
                NDArray y = LayerNorm.layerNorm(x, norm, gamma, beta, 1e-5f).head();
                NDArray ref = y.matMul(w.transpose());
                if (b != null) {
                    ref = ref.add(b);
                }
                // the FP8 path's math in float32: the bare norm (what the kernel writes), then W' and b'
                NDArray[] f = Fp8Linear.fold(w, b, gamma, beta);
                assertEquals(new Shape(n, k), f[0].getShape());
                assertEquals(new Shape(n), f[1].getShape());
                assertEquals(DataType.FLOAT32, f[0].getDataType());
                NDArray bare = LayerNorm.layerNorm(x, norm, m.ones(norm), m.zeros(norm), 1e-5f).head();
                NDArray folded = bare.matMul(f[0].transpose()).add(f[1]);
                float rel = relative(folded, ref);
                assertTrue(rel < 1e-5f, "bias " + withBias + ": relative error " + rel);
            }
        }
    }

    @Test
    void foldingAnFp16WeightComputesInFloat32() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray w = m.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3));
            NDArray gamma = m.create(new float[] {2, 0.5f, -1});
            NDArray beta = m.create(new float[] {1, -1, 0.25f});
            NDArray b = m.create(new float[] {10, 20});
            NDArray[] f = Fp8Linear.fold(w.toType(DataType.FLOAT16, false), b.toType(DataType.FLOAT16, false),
                    gamma.toType(DataType.FLOAT16, false), beta.toType(DataType.FLOAT16, false));
            assertEquals(DataType.FLOAT32, f[0].getDataType());
            assertEquals(List.of(2f, 1f, -3f, 8f, 2.5f, -6f), List.of(box(f[0].toFloatArray())));
            // b + W·β: 10 + (1 - 2 + 0.75), 20 + (4 - 5 + 1.5)
            assertEquals(List.of(9.75f, 20.5f), List.of(box(f[1].toFloatArray())));
        }
    }

    private static Float[] box(float[] a) {
        Float[] out = new Float[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }

    @Test
    void theInputScaleIsTheLargestPowerOfTwoThatCannotSaturate() {
        assertEquals(16, Fp8Linear.inputScale(320)); // 16·√320 = 286 ≤ 448 < 32·√320
        assertEquals(16, Fp8Linear.inputScale(640)); // 16·25.3 = 405
        assertEquals(8, Fp8Linear.inputScale(1280)); // 16·35.8 = 572 > 448
        assertEquals(8, Fp8Linear.inputScale(3136)); // 8·56 = 448 exactly
        assertEquals(4, Fp8Linear.inputScale(3137));
        assertEquals(256, Fp8Linear.inputScale(1)); // 256 ≤ 448 < 512
        for (long c : new long[] {16, 320, 768, 1024, 2048, 5120}) {
            double s = Fp8Linear.inputScale(c);
            assertTrue(s * Math.sqrt(c) <= Fp8Linear.E4M3_MAX && 2 * s * Math.sqrt(c) > Fp8Linear.E4M3_MAX, "c " + c);
            assertEquals(0, Math.getExponent(s) - Math.log(s) / Math.log(2), 0, "a power of two: " + s);
        }
        assertThrows(IllegalArgumentException.class, () -> Fp8Linear.inputScale(0));
    }

    @Test
    void fp8LinearsApplyOnlyToFp16ModelsOnCudaWithTheLibrary() {
        AtomicInteger asked = new AtomicInteger();
        java.util.function.BooleanSupplier on = () -> asked.incrementAndGet() > 0;
        assertTrue(Fp8Linear.fits(DataType.FLOAT16, Device.gpu(), 320, on), "fp16 on CUDA, C = 320, FP8 linears on");
        assertFalse(Fp8Linear.fits(DataType.FLOAT16, Device.gpu(), 320, () -> false), "FP8 linears off");
        asked.set(0);
        assertFalse(Fp8Linear.fits(DataType.FLOAT16, Device.cpu(), 320, on), "CPU");
        assertFalse(Fp8Linear.fits(DataType.FLOAT32, Device.gpu(), 320, on), "float32");
        assertFalse(Fp8Linear.fits(DataType.FLOAT16, Device.gpu(), 328, on), "C not a multiple of 16");
        assertEquals(0, asked.get(), "the library is asked only when the rest holds (a CPU model never asks it)");
        // CI has no native library: FP8 linears are off whatever SD_FP8_LINEARS says
        assertFalse(Fp8Linear.fits(DataType.FLOAT16, Device.gpu(), 320), "without the library");
    }

    @Test
    void everyUnetPatchAndItsRestoreMarkTheFp8CompanionsStale() {
        try (StableDiffusionPipeline p = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            assertFalse(p.models().unet().prepareFp8Linears(), "no companions on the CPU");
            p.models().unet().refreshFp8(); // nothing to refresh: no native call
            AtomicInteger refreshes = new AtomicInteger();
            PatchableModel model = p.models().patchable(refreshes::incrementAndGet); // counts the marks
            Map.Entry<String, Shape> unet = model.targets().of(Part.UNET).entrySet().stream()
                    .filter(e -> e.getKey().endsWith("ff.net.0.proj.weight")).findFirst().orElseThrow();
            Map.Entry<String, Shape> te = model.targets().of(Part.TEXT_ENCODER).entrySet().iterator().next();

            model.add(Part.UNET, unet.getKey(), m.ones(unet.getValue()));
            assertEquals(1, refreshes.get(), "add of a UNet weight");
            model.add(Part.TEXT_ENCODER, te.getKey(), m.ones(te.getValue()));
            assertEquals(1, refreshes.get(), "the text encoder's weights are no companion's source");
            model.addAll(List.of(new PatchableModel.Change(Part.UNET, unet.getKey(),
                    List.of(new PatchableModel.Term(m.ones(unet.getValue()), null, 0.5)))));
            assertEquals(2, refreshes.get(), "addAll with a UNet weight");
            model.addAll(List.of(new PatchableModel.Change(Part.TEXT_ENCODER, te.getKey(),
                    List.of(new PatchableModel.Term(m.ones(te.getValue()), null, 0.5)))));
            assertEquals(2, refreshes.get(), "addAll of text-encoder weights only");
            model.restore();
            assertEquals(3, refreshes.get(), "restore");
            // ff.net.2 (a standard LoRA target) has an FP8 companion too (SD_FP8_FF_OUT): its patches refresh as well
            Map.Entry<String, Shape> ffOut = model.targets().of(Part.UNET).entrySet().stream()
                    .filter(e -> e.getKey().endsWith("ff.net.2.weight")).findFirst().orElseThrow();
            int before = refreshes.get();
            model.add(Part.UNET, ffOut.getKey(), m.ones(ffOut.getValue()));
            assertEquals(before + 1, refreshes.get(), "add of ff.net.2's weight");
            model.restore();
            assertEquals(before + 2, refreshes.get(), "its restore");
            assertThrows(IllegalArgumentException.class, () -> model.add(Part.UNET, "no.such.weight", m.ones(new Shape(1))));
            assertEquals(before + 3, refreshes.get(), "a failed add still marks them (nothing changed, harmless)");
            model.restore();
            assertEquals(before + 4, refreshes.get(), "the restore after it");
            model.add(Part.TEXT_ENCODER, te.getKey(), m.ones(te.getValue()));
            model.restore();
            assertEquals(before + 4, refreshes.get(), "a restore after text-encoder patches alone leaves the UNet's");
        }
    }

    @Test
    void patchesMarkTheCompanionsStaleAndTheNextUnetCallRecomputesThemOnce() {
        try (StableDiffusionPipeline p = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            UNet2DConditionModel unet = p.models().unet();
            assertFalse(unet.refreshFp8IfStale(), "nothing changed since load");
            PatchableModel model = p.models().patchable();
            Map.Entry<String, Shape> w = model.targets().of(Part.UNET).entrySet().stream()
                    .filter(e -> e.getKey().endsWith("ff.net.0.proj.weight")).findFirst().orElseThrow();
            model.add(Part.UNET, w.getKey(), m.ones(w.getValue()));
            model.restore();
            model.add(Part.UNET, w.getKey(), m.ones(w.getValue()));
            assertTrue(unet.refreshFp8IfStale(), "three changes, one recomputation");
            assertFalse(unet.refreshFp8IfStale(), "and not again");
            model.restore();
            UNetConfig c = unet.config();
            try (NDManager call = m.newSubManager()) {
                unet.forward(call, call.zeros(new Shape(1, c.inChannels(), 8, 8)), call.create(new float[] {10f}),
                        call.zeros(new Shape(1, 77, c.crossAttentionDim())));
            }
            assertFalse(unet.refreshFp8IfStale(), "the UNet call recomputed them first");
        }
    }

    /** PyTorch's e4m3 conversion of a double (round to nearest even, 3 mantissa bits, subnormal steps of 2^-9), clamped to ±448. */
    static double e4m3(double v) {
        double a = Math.min(Math.abs(v), Fp8Linear.E4M3_MAX);
        if (a == 0) {
            return 0;
        }
        double step = Math.scalb(1.0, Math.max(Math.getExponent(a), -6) - 3);
        return Math.copySign(Math.min(Math.rint(a / step) * step, Fp8Linear.E4M3_MAX), v);
    }

    @Test
    void theE4m3RoundingOfTheTestsIsPyTorchs() {
        assertEquals(448, e4m3(460)); // saturated (clamped first, as store_e4m3)
        assertEquals(1.125, e4m3(1.1)); // steps of 1/8 in [1, 2)
        assertEquals(1.0, e4m3(1.0625)); // a tie: to even
        assertEquals(-240, e4m3(-236)); // steps of 16 in [128, 256): 232 ties to 224, 236 rounds up
        assertEquals(Math.scalb(1.0, -9), e4m3(Math.scalb(1.0, -9))); // the least subnormal
        assertEquals(0, e4m3(Math.scalb(1.0, -11)));
    }

    /**
     * The static output scale of an e4m3 product ({@code SD_FP8_GEGLU}): for random folded weights and biases, every
     * row's worst input (x̂ of norm √K along the row's dequantised weight, the bias's sign; the FP8 path's roundings of
     * W' and x̂ as PyTorch and the LayerNorm kernel make them) stays within ±448 after the D scale, and the bound is not
     * loose (the worst row reaches more than 448 / 1.25); the scales' layout is cuBLASLt's and the gate's.
     */
    @Test
    void theStaticOutputScaleKeepsEveryNormalisedInputsProductWithinE4m3() {
        java.util.Random random = new java.util.Random(5);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            for (int k : new int[] {64, 320, 1280}) {
                int n = 24;
                double sx = Fp8Linear.inputScale(k);
                float[] w = new float[n * k];
                float[] b = new float[n];
                for (int j = 0; j < n; j++) {
                    double rowScale = Math.scalb(1.0, random.nextInt(7) - 3) / Math.sqrt(k); // rows of unequal norms
                    for (int i = 0; i < k; i++) {
                        w[j * k + i] = (float) (random.nextGaussian() * rowScale);
                    }
                    b[j] = (float) (random.nextGaussian() * 2);
                }
                NDArray ys = Fp8Linear.outputScales(m.create(w, new Shape(n, k)), m.create(b), sx);
                float[] y = ys.toFloatArray();
                assertEquals(Fp8Linear.SCALE_SLOTS, y.length);
                double sy = y[0];
                assertEquals(1 / y[0], y[Fp8Linear.INPUT_SCALE_SLOT], 0, "1/s_y in float32 at the input-scale slot");
                for (int i : new int[] {1, 2, 3, 5, 6, 7}) {
                    assertEquals(0, y[i]);
                }
                // W' as fp8Quantize stores it: s_w = amax/448, e4m3(W'/s_w)·s_w
                double amax = 0;
                for (float v : w) {
                    amax = Math.max(amax, Math.abs(v));
                }
                double sw = amax / Fp8Linear.E4M3_MAX;
                double worst = 0;
                for (int j = 0; j < n; j++) {
                    double[] dq = new double[k];
                    double norm = 0;
                    for (int i = 0; i < k; i++) {
                        dq[i] = e4m3(w[j * k + i] / sw) * sw;
                        norm += dq[i] * dq[i];
                    }
                    norm = Math.sqrt(norm);
                    double sign = b[j] >= 0 ? 1 : -1;
                    double yj = b[j];
                    for (int i = 0; i < k; i++) {
                        double x = sign * Math.sqrt(k) * dq[i] / norm; // ‖x̂‖ = √K along the row: Cauchy–Schwarz's equality
                        yj += dq[i] * e4m3(x * sx) / sx; // the kernel's e4m3 of x̂·s_x, dequantised
                    }
                    double scaled = Math.abs(yj) * sy;
                    assertTrue(scaled <= Fp8Linear.E4M3_MAX, "K " + k + " row " + j + ": " + scaled);
                    worst = Math.max(worst, scaled);
                }
                assertTrue(worst > Fp8Linear.E4M3_MAX / 1.25, "K " + k + ": the bound is loose, worst row at " + worst);
            }
        }
    }

    @Test
    void anAllZeroWeightGetsAFiniteOutputScale() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            float[] y = Fp8Linear.outputScales(m.zeros(new Shape(8, 32)), m.zeros(new Shape(8)), 16).toFloatArray();
            assertTrue(Float.isFinite(y[0]) && y[0] > 0, "s_y " + y[0]);
            assertTrue(Float.isFinite(y[Fp8Linear.INPUT_SCALE_SLOT]) && y[Fp8Linear.INPUT_SCALE_SLOT] > 0);
            float[] noBias = Fp8Linear.outputScales(m.ones(new Shape(2, 16)), null, 16).toFloatArray();
            // ‖W'_j‖ = 4, s_w = 1/448: (4·17/16 + 2^-10·4/448)·4·(17/16 + 2^-10/16)·(1 + 1/64)
            double bound = (4 * 17 / 16.0 + Math.scalb(1.0, -10) * 4 / 448) * 4 * (17 / 16.0 + Math.scalb(1.0, -10) / 16)
                    * (1 + 1 / 64.0);
            assertEquals(448 / bound, noBias[0], 448 / bound * 1e-6);
        }
    }
}
