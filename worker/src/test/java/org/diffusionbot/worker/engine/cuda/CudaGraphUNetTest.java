package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.List;
import org.diffusionbot.worker.engine.TinySdxl;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.models.Conditioning;
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
    void withTheLibrarysGraphsOnTheCpuItCallsTheUNet() {
        try (CudaGraphUNet unet = new CudaGraphUNet(sdxl.models().unet(), Device.cpu(), true, 3);
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            assertFalse(unet.enabled(), "graphs need CUDA and the native library");
            ReferenceData.assertClose(ref(m, "unet0.out"), call(unet, m, "unet0"), "unet0");
            assertEquals(0, unet.graphCount());
        }
    }
}
