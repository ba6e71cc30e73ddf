package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.Scalars;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.cuda.FakeGraphBackend;
import org.diffusionbot.worker.engine.cuda.GraphPool;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.models.ReferenceData;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The pipeline's graph path on the CPU: the UNet's and the VAE decoder's {@code CudaGraphRunner}s over one {@link
 * GraphPool} whose device calls are {@link FakeGraphBackend}'s (a capture runs the function, a replay runs it again on
 * the static inputs and writes the results into the same output arrays), against the same tiny model eagerly. The
 * images must be the same bytes: the runners copy each call's inputs into the right graph, and the pipeline reads or
 * copies each output before the next replay overwrites it (several decode chunks, full VAE previews between UNet
 * steps, one step late). What it cannot show: the device's capture, and two graphs' outputs in one block of the pool
 * (the GPU bench's {@code --check}: VAE previews with and without the decoder's graphs).
 */
class PipelineGraphsTest {
    private static StableDiffusionPipeline eager;
    private static StableDiffusionPipeline graphs;
    private static FakeGraphBackend fake;

    @BeforeAll
    static void load() {
        eager = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu());
        fake = new FakeGraphBackend();
        // the same models, with graphs wanted: usable on the CPU only through the fake
        graphs = new StableDiffusionPipeline(eager.models(), eager.tokenizer(), null, eager.schedulerConfig(),
                DataType.FLOAT32, Device.cpu(), "fake graphs", PipelineOptions.DEFAULTS, new GraphPool(fake));
    }

    @AfterAll
    static void close() {
        graphs.clearGraphs(); // not closed: it shares the models, which eager closes
        eager.close();
        assertEquals(0, fake.live().size(), "every graph destroyed");
    }

    @BeforeEach
    void freshGraphs() {
        graphs.clearGraphs();
        fake.calls.clear();
    }

    /** The images of each request, and every preview a callback made. */
    private record Run(List<RgbImage> images, List<RgbImage> previews) {}

    private static Run run(StableDiffusionPipeline p, List<GenerationRequest> requests,
            PipelineCallbacks.PreviewMode mode, int previewEvery) {
        List<RgbImage> previews = new ArrayList<>();
        List<RequestResult> results = p.generate(requests, new PipelineCallbacks() {
            @Override
            public boolean previewDue(int request, int step, int totalSteps) {
                return previewEvery > 0 && step % previewEvery == 0;
            }

            @Override
            public void onStep(StepView s) {
                if (previewEvery > 0 && s.step() % previewEvery == 0) {
                    for (int r = 0; r < requests.size(); r++) {
                        for (int k = 0; k < requests.get(r).seeds().size(); k++) {
                            previews.add(s.preview(r, k));
                        }
                    }
                }
            }

            @Override
            public PreviewMode previewMode() {
                return mode;
            }
        });
        List<RgbImage> images = new ArrayList<>();
        for (RequestResult r : results) {
            images.addAll(((RequestResult.Success) r).images());
        }
        return new Run(images, previews);
    }

    private static void assertSameImages(List<RgbImage> expected, List<RgbImage> actual, String what) {
        assertEquals(expected.size(), actual.size(), what);
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i).rgb(), actual.get(i).rgb(), what + " " + i);
        }
    }

    @Test
    void theGraphPathGivesTheEagerImagesAndPreviews() {
        assertTrue(graphs.unetRunner().enabled());
        assertTrue(graphs.vaeDecode().graphs().enabled());
        List<GenerationRequest> reqs = List.of(new GenerationRequest("a red cube on a blue floor", "", List.of(1L, 2L),
                7.5, 1, 64, 64, 6, Sampler.DPMPP_2M_KARRAS, null, null), new GenerationRequest("a watercolor fox",
                "blurry", List.of(3L), 5.0, 1, 64, 64, 6, Sampler.DPMPP_2M_KARRAS, null, null));
        Run want = run(eager, reqs, PipelineCallbacks.PreviewMode.VAE, 2);
        Run got = run(graphs, reqs, PipelineCallbacks.PreviewMode.VAE, 2);
        assertSameImages(want.images(), got.images(), "image");
        assertSameImages(want.previews(), got.previews(), "VAE preview");
        assertEquals(9, got.previews().size(), "3 images x 3 previews");
        // the three images differ: a decode chunk read after the next chunk's replay would repeat the last one
        assertFalse(java.util.Arrays.equals(got.images().get(0).rgb(), got.images().get(2).rgb()));
        assertEquals(2, fake.count("capture"), "one UNet graph (6 rows), one VAE decoder graph (1 row): " + fake.calls);
        assertEquals(6 + 9 + 3, fake.count("replay"), "6 steps, 9 previews, 3 decodes");
        assertEquals(2, graphs.unetRunner().graphCount() + graphs.vaeDecode().graphs().graphCount());
    }

    @Test
    void withoutGuidanceAndWithAHistoryKeepingSamplerTheGraphPathStillGivesTheEagerImages() {
        // cfg 1: the UNet's output (a view of the graph's) goes to the scheduler as it is, and PLMS keeps history
        List<GenerationRequest> reqs = List.of(new GenerationRequest("a lighthouse", "", List.of(4L, 5L), 1.0, 1, 96,
                64, 5, Sampler.PNDM, null, null));
        Run want = run(eager, reqs, PipelineCallbacks.PreviewMode.LATENT_RGB, 0);
        Run got = run(graphs, reqs, PipelineCallbacks.PreviewMode.LATENT_RGB, 0);
        assertSameImages(want.images(), got.images(), "image");
        assertEquals(2, fake.count("capture"));
    }

    @Test
    void theVaeDecodeTurnsTheDecodersOutputIntoTheBytesDiffusersWould() {
        // diffusers' decoder output for these latents (already divided by the scaling factor)
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray latents = ReferenceData.load(m, "vae_decode.latents");
            float[] image = ReferenceData.load(m, "vae_decode.image").toFloatArray(); // (2, 3, 64, 64)
            double scaling = graphs.vaeDecode().vae().config().scalingFactor();
            VaeDecode.Bytes b = graphs.vaeDecode().decode(m, Scalars.mul(latents, (float) scaling));
            assertEquals(new ai.djl.ndarray.types.Shape(2, 64, 64, 3), b.rgb().getShape());
            byte[] rgb = b.rgb().toByteArray();
            float[] peak = b.peak().toFloatArray();
            int plane = 64 * 64;
            int off = 0;
            for (int n = 0; n < 2; n++) {
                float max = 0;
                for (int i = 0; i < plane; i++) {
                    for (int c = 0; c < 3; c++) {
                        float v = image[(n * 3 + c) * plane + i];
                        max = Math.max(max, Math.abs(v));
                        long want = Math.round(255 * Math.min(1, Math.max(0, v / 2 + 0.5)));
                        int got = rgb[(n * plane + i) * 3 + c] & 0xff;
                        assertTrue(Math.abs(got - want) <= 1, "image " + n + " pixel " + i + " channel " + c + ": "
                                + got + " vs " + want);
                        off += got == want ? 0 : 1;
                    }
                }
                assertEquals(max, peak[n], 1e-3 * Math.max(1, max), "image " + n + "'s max |v|");
            }
            assertTrue(off < 2 * 3 * plane / 100, off + " values a level off (rounding at .5)");
            assertEquals(1, fake.count("capture"), "through the fake graph");
        }
    }
}
