package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.List;
import org.diffusionbot.worker.engine.TinySdxl;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.models.Conditioning;
import org.diffusionbot.worker.engine.models.UNet2DConditionModel;
import org.diffusionbot.worker.engine.models.ReferenceData;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link CudaGraphUNet} over {@link CudaGraphRunner}, on the CPU with {@link FakeGraphBackend}: the tiny SDXL UNet's
 * calls (latents, timestep, context, pooled embedding and time ids) through graphs give diffusers' outputs, one graph
 * per shape; and without the fake (the library's graphs, which the CPU cannot use) it calls the UNet.
 */
class CudaGraphUNetTest {
    private static final String MODEL = "tiny-sdxl";
    private static StableDiffusionPipeline sdxl;

    @BeforeAll
    static void load() {
        sdxl = ModelLoader.load(TinySdxl.folderPath(), DataType.FLOAT32, Device.cpu());
    }

    @AfterAll
    static void close() {
        sdxl.close();
    }

    private static NDArray ref(NDManager m, String name) {
        return ReferenceData.load(m, MODEL, name);
    }

    private static NDArray call(CudaGraphUNet unet, NDManager m, String c) {
        return unet.forward(m, ref(m, c + ".sample"), ref(m, c + ".timestep"), new Conditioning(ref(m, c + ".context"),
                ref(m, c + ".text_embeds"), ref(m, c + ".time_ids")));
    }

    @Test
    void throughGraphsEveryInputReachesTheUNetAndEachShapeHasOneGraph() {
        FakeGraphBackend fake = new FakeGraphBackend();
        try (CudaGraphUNet unet = new CudaGraphUNet(sdxl.models().unet(), Device.cpu(), true, 3, new GraphPool(fake));
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            assertTrue(unet.enabled());
            // unet0..2 share their shapes (one graph, captured with unet0's inputs, replayed with the others'); unet_wide
            // is wider (a second graph)
            for (String c : List.of("unet0", "unet1", "unet2", "unet_wide", "unet1")) {
                ReferenceData.assertClose(ref(m, c + ".out"), call(unet, m, c), c);
            }
            assertEquals(2, unet.graphCount());
            assertEquals(2, fake.count("capture"));
            assertEquals(5, fake.count("replay"));
            unet.clearGraphs();
            assertEquals(List.of(), List.copyOf(fake.live()));
        }
    }

    @Test
    void withThePromptKvThroughGraphsEachConditioningGivesItsOwnOutputAndIsCopiedOncePerGraph() {
        // the step loop's use: one conditioning (with its prompt K|V) for several calls, then another of the same
        // shapes (the next batch's prompt): the graph must compute with the new one, not keep the old one
        FakeGraphBackend fake = new FakeGraphBackend();
        UNet2DConditionModel model = sdxl.models().unet();
        try (CudaGraphUNet unet = new CudaGraphUNet(model, Device.cpu(), true, 3, new GraphPool(fake));
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray sample = ref(m, "unet1.sample");
            NDArray t = ref(m, "unet1.timestep");
            Conditioning a = new Conditioning(ref(m, "unet1.context"), ref(m, "unet1.text_embeds"),
                    ref(m, "unet1.time_ids"));
            Conditioning b = new Conditioning(a.context().mul(-0.5f).add(0.25f), a.textEmbeds().mul(2),
                    a.timeIds());
            NDArray wantA = model.forward(m, sample, t, a);
            NDArray wantB = model.forward(m, sample, t, b);
            Conditioning ka = model.withPromptKv(m, a);
            Conditioning kb = model.withPromptKv(m, b);
            for (Conditioning c : List.of(ka, ka, ka, kb, kb, ka)) {
                fake.copied.clear();
                NDArray got = unet.forward(m, sample, t, c);
                double d = maxDiff(c == ka ? wantA : wantB, got);
                assertTrue(d <= 1e-6, "through the graph, with its prompt K|V: max |Δ| " + d);
            }
            assertEquals(1, fake.count("capture"), "one graph: the same shapes");
            assertTrue(maxDiff(wantA, wantB) > 1e-3, "the two conditionings give different outputs");
            // the last call (ka after kb) copied ka's arrays again; the graph's static prompt K|V is ka's
            assertTrue(fake.copied.stream().anyMatch(x -> x == ka.promptKv()));
            fake.copied.clear();
            unet.forward(m, sample, t, ka);
            assertEquals(2, fake.copied.size(), "the same conditioning again: the latents and the timestep only");
            assertSame(sample, fake.copied.get(0));
            assertSame(t, fake.copied.get(1));
            // a's context and embeddings with b's prompt K|V: through the graph the cross-attentions read the K|V
            NDArray wantMixed = model.forward(m, sample, t, new Conditioning(b.context(), a.textEmbeds(), a.timeIds()));
            double dm = maxDiff(wantMixed, unet.forward(m, sample, t, a.withPromptKv(kb.promptKv())));
            assertTrue(dm <= 1e-6, "the prompt K|V's prompt, not the context's: max |Δ| " + dm);
            assertTrue(maxDiff(wantA, wantMixed) > 1e-3, "b's context changes the output");
        }
    }

    private static double maxDiff(NDArray a, NDArray b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        assertEquals(x.length, y.length);
        double d = 0;
        for (int i = 0; i < x.length; i++) {
            double e = Math.abs((double) x[i] - y[i]);
            d = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(d, e);
        }
        return d;
    }

    @Test
    void withTheLibrarysGraphsOnTheCpuItCallsTheUNet() {
        try (CudaGraphUNet unet = new CudaGraphUNet(sdxl.models().unet(), Device.cpu(), true, 3);
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            assertFalse(unet.enabled(), "graphs need CUDA and the native library");
            ReferenceData.assertClose(ref(m, "unet0.out"), call(unet, m, "unet0"), "unet0");
            assertEquals(0, unet.graphCount());
        }
    }
}
