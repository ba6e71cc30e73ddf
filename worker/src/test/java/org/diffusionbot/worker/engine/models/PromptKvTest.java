package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.diffusionbot.worker.engine.TinySdxl;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The prompt K|V ({@link UNet2DConditionModel#withPromptKv}) on the CPU (the DJL path), tiny SD 1.5 and tiny SDXL: a
 * UNet call that reads it gives the output of one that projects the context itself (the same products, made before),
 * for every reference case; its layout (one 1-d array, each layer's (B, M, 2C) k|v at a 512-byte aligned offset); a
 * prompt K|V of another shape is refused; and one made for another context is that context's (no state kept between
 * calls).
 */
class PromptKvTest {
    private static NDManager models;
    private static UNet2DConditionModel sd15;
    private static StableDiffusionPipeline sdxlPipeline;

    @BeforeAll
    static void load() {
        models = NDManager.newBaseManager(Device.cpu());
        UNetConfig cfg = UNetConfig.load(ReferenceData.modelDir().resolve("unet/config.json"));
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            sd15 = new UNet2DConditionModel(cfg, w, models, DataType.FLOAT32, Device.cpu());
            w.verify();
        }
        sdxlPipeline = ModelLoader.load(TinySdxl.folderPath(), DataType.FLOAT32, Device.cpu());
    }

    @AfterAll
    static void close() {
        models.close();
        sdxlPipeline.close();
    }

    private static Conditioning cond(NDManager m, String model, String c) {
        NDArray ctx = ReferenceData.load(m, model, c + ".context");
        return model.equals("tiny-sdxl")
                ? new Conditioning(ctx, ReferenceData.load(m, model, c + ".text_embeds"),
                        ReferenceData.load(m, model, c + ".time_ids"))
                : Conditioning.of(ctx);
    }

    /** max |a − b| over all elements, shapes equal. */
    private static double maxDiff(NDArray a, NDArray b) {
        assertArrayEquals(a.getShape().getShape(), b.getShape().getShape());
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        double d = 0;
        for (int i = 0; i < x.length; i++) {
            double e = Math.abs((double) x[i] - y[i]);
            d = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(d, e);
        }
        return d;
    }

    private static void sameOutputWithAndWithoutIt(UNet2DConditionModel unet, String model) {
        for (String c : List.of("unet0", "unet1", "unet2", "unet_wide")) {
            try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
                Conditioning plain = cond(m, model, c);
                NDArray sample = ReferenceData.load(m, model, c + ".sample");
                NDArray t = ReferenceData.load(m, model, c + ".timestep");
                NDArray without = unet.forward(m, sample, t, plain);
                Conditioning withKv = unet.withPromptKv(m, plain);
                assertNotNull(withKv.promptKv(), "a prompt K|V on the CPU");
                assertSame(plain.context(), withKv.context());
                NDArray with = unet.forward(m, sample, t, withKv);
                double d = maxDiff(without, with);
                assertTrue(d <= 1e-6, model + " " + c + ": max |Δ| " + d);
                ReferenceData.assertClose(ReferenceData.load(m, model, c + ".out"), with, model + " " + c);
            }
        }
    }

    @Test
    void sd15TheUNetsOutputWithThePromptKvIsTheOutputWithout() {
        sameOutputWithAndWithoutIt(sd15, "tiny-sd15");
    }

    @Test
    void sdxlTheUNetsOutputWithThePromptKvIsTheOutputWithout() {
        sameOutputWithAndWithoutIt(sdxlPipeline.models().unet(), "tiny-sdxl");
    }

    @Test
    void oneArrayWithEveryCrossAttentionsKvAtAlignedOffsets() {
        assertEquals(16, sd15.crossAttentionCount(), "SD 1.5's layout: 2+2+2 down, 1 mid, 3+3+3 up");
        long[] at = sd15.promptKvLayout(2, 77);
        assertEquals(17, at.length);
        assertEquals(0, at[0]);
        for (int i = 0; i < 16; i++) {
            assertEquals(0, at[i] % UNet2DConditionModel.PROMPT_KV_ALIGN, "layer " + i + " aligned");
            assertTrue(at[i + 1] >= at[i] + 2 * 77 * 2 * 32, "room for a (2, 77, 2C) k|v, C ≥ 32");
        }
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Conditioning c = sd15.withPromptKv(m, cond(m, "tiny-sd15", "unet0"));
            NDArray kv = c.promptKv();
            assertEquals(new Shape(at[16]), kv.getShape());
            assertEquals(DataType.FLOAT32, kv.getDataType(), "the model's dtype");
            assertSame(m, kv.getManager(), "owned by the caller");
            assertSame(c, sd15.withPromptKv(m, c), "one that has a prompt K|V is returned as it is");
        }
    }

    @Test
    void theFirstLayersSliceIsItsOwnKvProductAndTheGapsAreZeros() {
        Attention first = sd15.crossAttentions().get(0); // down_blocks.0.attentions.0's block 0
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Conditioning c = cond(m, "tiny-sd15", "unet1");
            NDArray kv = sd15.withPromptKv(m, c).promptKv();
            long[] at = sd15.promptKvLayout(2, 77);
            NDArray own = first.projectKv(c.context());
            NDArray slice = kv.get(at[0] + ":" + (at[0] + own.size())).reshape(own.getShape());
            assertEquals(0.0, maxDiff(own, slice), "the same product");
            long end = at[0] + own.size();
            if (at[1] > end) {
                assertEquals(0f, kv.get(end + ":" + at[1]).abs().sum().getFloat());
            }
        }
    }

    @Test
    void aPromptKvOfAnotherShapeOrTypeIsRefused() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Conditioning two = cond(m, "tiny-sd15", "unet0"); // (2, 77, 32)
            Conditioning one = cond(m, "tiny-sd15", "unet_wide"); // (1, 77, 32)
            NDArray kvOfOne = sd15.withPromptKv(m, one).promptKv();
            NDArray sample = ReferenceData.load(m, "unet0.sample");
            NDArray t = ReferenceData.load(m, "unet0.timestep");
            assertThrows(IllegalArgumentException.class, () -> sd15.forward(m, sample, t, two.withPromptKv(kvOfOne)));
            NDArray kv = sd15.withPromptKv(m, two).promptKv();
            assertThrows(IllegalArgumentException.class,
                    () -> sd15.forward(m, sample, t, two.withPromptKv(kv.toType(DataType.FLOAT64, false))));
            assertThrows(IllegalArgumentException.class,
                    () -> sd15.forward(m, sample, t, two.withPromptKv(kv.reshape(2, -1))));
        }
    }

    @Test
    void eachCallReadsTheKvItIsGivenNothingIsKept() {
        // two contexts of the same shape: a call with b's prompt K|V after one with a's gives b's output, and the other
        // way round
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray sample = ReferenceData.load(m, "unet1.sample");
            NDArray t = ReferenceData.load(m, "unet1.timestep");
            Conditioning a = cond(m, "tiny-sd15", "unet1");
            Conditioning b = Conditioning.of(a.context().mul(-0.5f).add(0.25f));
            assertFalse(a.context().contentEquals(b.context()));
            NDArray wantA = sd15.forward(m, sample, t, a);
            NDArray wantB = sd15.forward(m, sample, t, b);
            Conditioning ka = sd15.withPromptKv(m, a);
            Conditioning kb = sd15.withPromptKv(m, b);
            for (int i = 0; i < 2; i++) {
                assertTrue(maxDiff(wantA, sd15.forward(m, sample, t, ka)) <= 1e-6);
                assertTrue(maxDiff(wantB, sd15.forward(m, sample, t, kb)) <= 1e-6);
            }
            assertTrue(maxDiff(wantA, wantB) > 1e-3, "the two prompts give different outputs");
            // a's context with b's prompt K|V: the cross-attentions read the K|V, not the context
            NDArray mixed = sd15.forward(m, sample, t, a.withPromptKv(kb.promptKv()));
            assertTrue(maxDiff(wantB, mixed) <= 1e-6, "the output of the prompt K|V's prompt");
            assertTrue(maxDiff(wantA, mixed) > 1e-3, "not the output of the context's prompt");
        }
    }

    @Test
    void makingItLeavesNoArraysBehindAndCallsWithItKeepMemoryFlat() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Conditioning c = cond(m, "tiny-sd15", "unet0");
            NDArray sample = ReferenceData.load(m, "unet0.sample");
            NDArray t = ReferenceData.load(m, "unet0.timestep");
            int weights = models.getManagedArrays().size();
            int before = m.getManagedArrays().size();
            Conditioning k = sd15.withPromptKv(m, c);
            assertEquals(before + 1, m.getManagedArrays().size(), "the prompt K|V alone");
            sd15.forward(m, sample, t, k).close();
            int caller = m.getManagedArrays().size();
            for (int i = 0; i < 3; i++) {
                sd15.forward(m, sample, t, k).close();
            }
            assertEquals(weights, models.getManagedArrays().size(), "arrays in the model's manager");
            assertEquals(caller, m.getManagedArrays().size(), "arrays in the caller's manager");
            assertSame(m, k.promptKv().getManager(), "the prompt K|V is returned to the caller");
        }
    }

    @Test
    void aConditioningWithoutAPromptKvHasNone() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Conditioning c = cond(m, "tiny-sd15", "unet0");
            assertNull(c.promptKv());
            assertNull(new Conditioning(c.context(), null, null).promptKv());
            assertNull(c.withPromptKv(m.zeros(new Shape(3))).withPromptKv(null).promptKv());
        }
    }
}
