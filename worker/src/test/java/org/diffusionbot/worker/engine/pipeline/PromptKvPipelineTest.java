package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.TinySdxl;
import org.diffusionbot.worker.engine.cuda.FakeGraphBackend;
import org.diffusionbot.worker.engine.cuda.GraphPool;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The prompt K|V in whole runs on the CPU ({@link PipelineOptions#promptKv()}, {@code SD_PROMPT_KV}): the same images
 * with it on and off (tiny SD 1.5 and tiny SDXL, guidance and not), through the UNet's (fake) CUDA graphs too; and
 * batches of other prompts of the same shapes one after another through one graph give each prompt's own images (the
 * graph copies each loop's new prompt K|V: nothing of the last loop is reused).
 */
class PromptKvPipelineTest {
    private static StableDiffusionPipeline sd15;
    private static StableDiffusionPipeline sd15Graphs;
    private static StableDiffusionPipeline sdxl;
    private static FakeGraphBackend fake;

    @BeforeAll
    static void load() {
        sd15 = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu());
        fake = new FakeGraphBackend();
        sd15Graphs = new StableDiffusionPipeline(sd15.models(), sd15.tokenizer(), null, sd15.schedulerConfig(),
                DataType.FLOAT32, Device.cpu(), "fake graphs", PipelineOptions.DEFAULTS, new GraphPool(fake));
        sdxl = ModelLoader.load(TinySdxl.folderPath(), DataType.FLOAT32, Device.cpu());
    }

    @AfterAll
    static void close() {
        sd15Graphs.clearGraphs(); // not closed: it shares the models, which sd15 closes
        sd15.close();
        sdxl.close();
    }

    private static List<byte[]> images(StableDiffusionPipeline p, boolean promptKv, List<GenerationRequest> reqs) {
        p.setPromptKv(promptKv);
        try {
            List<byte[]> out = new ArrayList<>();
            for (RequestResult r : p.generate(reqs, PipelineCallbacks.NONE)) {
                ((RequestResult.Success) r).images().forEach(i -> out.add(i.rgb()));
            }
            return out;
        } finally {
            p.setPromptKv(p.options().promptKv());
        }
    }

    private static void assertSameImages(List<byte[]> want, List<byte[]> got, String what) {
        assertEquals(want.size(), got.size(), what);
        for (int i = 0; i < want.size(); i++) {
            assertArrayEquals(want.get(i), got.get(i), what + " image " + i);
        }
    }

    private static GenerationRequest request(String prompt, String negative, long seed, double cfg, int steps) {
        return new GenerationRequest(prompt, negative, List.of(seed), cfg, 1, 64, 64, steps,
                Sampler.DPMPP_2M_KARRAS, null, null);
    }

    @Test
    void onByDefault() {
        assertTrue(PipelineOptions.DEFAULTS.promptKv());
        assertTrue(sd15.options().promptKv());
    }

    @Test
    void sd15TheSameImagesWithAndWithoutThePromptKv() {
        List<GenerationRequest> reqs = List.of(request("a red cube on a blue floor", "", 1, 7.5, 4),
                request("a watercolor fox", "blurry", 3, 5.0, 4));
        assertSameImages(images(sd15, false, reqs), images(sd15, true, reqs), "guidance");
        List<GenerationRequest> noCfg = List.of(request("a lighthouse", "", 4, 1.0, 3));
        assertSameImages(images(sd15, false, noCfg), images(sd15, true, noCfg), "cfg 1");
    }

    @Test
    void sdxlTheSameImagesWithAndWithoutThePromptKv() {
        List<GenerationRequest> reqs = List.of(request("a red cube on a blue floor", "", 1, 6.0, 3));
        assertSameImages(images(sdxl, false, reqs), images(sdxl, true, reqs), "sdxl");
    }

    @Test
    void throughOneGraphEachBatchsPromptGivesItsOwnImages() {
        sd15Graphs.clearGraphs();
        fake.calls.clear();
        assertTrue(sd15Graphs.unetRunner().enabled());
        // three batches of the same shapes (one UNet graph), other prompts: a graph that kept the first batch's prompt
        // K|V would repeat its image for the others
        List<List<GenerationRequest>> batches = List.of(List.of(request("a red cube on a blue floor", "", 7, 7.5, 3)),
                List.of(request("a watercolor fox in the snow", "blurry", 7, 7.5, 3)),
                List.of(request("a red cube on a blue floor", "", 7, 7.5, 3)));
        List<byte[]> got = new ArrayList<>();
        for (List<GenerationRequest> b : batches) {
            List<byte[]> want = images(sd15, false, b);
            List<byte[]> g = images(sd15Graphs, true, b);
            assertSameImages(want, g, "graphs with the prompt K|V, " + b.get(0).prompt());
            got.addAll(g);
        }
        assertFalse(Arrays.equals(got.get(0), got.get(1)), "the prompts give different images");
        assertArrayEquals(got.get(0), got.get(2), "the first prompt again, after another");
        assertEquals(1, sd15Graphs.unetRunner().graphCount(), "one UNet graph for the three batches: " + fake.calls);
    }
}
