package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Step callbacks one step late ({@link PipelineOptions#asyncPreviews()}, {@code SD_ASYNC_PREVIEWS=1}) against callbacks inside their
 * step (the default), on the CPU (synchronous copies, the same order as on CUDA): the same steps in
 * the same order with the same x0, latents and preview pixels; cancellation; a one-step run.
 */
class StepCallbackOrderTest {
    private static StableDiffusionPipeline inStep;
    private static StableDiffusionPipeline late;

    @BeforeAll
    static void load() {
        inStep = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu(),
                new ModelLoader.Options(null, null, null, PipelineOptions.DEFAULTS.withAsyncPreviews(false)));
        late = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu(),
                new ModelLoader.Options(null, null, null, PipelineOptions.DEFAULTS.withAsyncPreviews(true)));
    }

    @AfterAll
    static void close() {
        inStep.close();
        late.close();
    }

    /** Step, total, timestep, x0, latents and a preview (previews due every other step) of every request at every step. */
    private static final class Recorder implements PipelineCallbacks {
        final List<String> steps = new ArrayList<>();
        final List<float[]> x0 = new ArrayList<>();
        final List<float[]> latents = new ArrayList<>();
        final List<byte[]> previews = new ArrayList<>();
        final PreviewMode mode;

        Recorder(PreviewMode mode) {
            this.mode = mode;
        }

        @Override
        public boolean previewDue(int request, int step, int totalSteps) {
            return step % 2 == 0;
        }

        @Override
        public void onStep(StepView s) {
            steps.add(s.step() + "/" + s.totalSteps() + "@" + s.timestep());
            for (int r = 0; r < 2; r++) {
                x0.add(s.x0(r, 0));
                latents.add(s.latents(r, 0));
                if (previewDue(r, s.step(), s.totalSteps())) {
                    previews.add(s.preview(r, 0).rgb());
                }
            }
        }

        @Override
        public PreviewMode previewMode() {
            return mode;
        }
    }

    private static List<GenerationRequest> batch(int steps) {
        return List.of(GenerationRequest.of("frogs on stilts", 64, 64, steps, Sampler.DPMPP_2M_KARRAS, 3),
                GenerationRequest.of("a cabin", 64, 64, steps, Sampler.DPMPP_2M_KARRAS, 4).withGuidanceScale(3));
    }

    @Test
    void oneStepLateSeesTheSameStepsX0LatentsAndPreviewsAsInsideTheStep() {
        for (PipelineCallbacks.PreviewMode mode : List.of(PipelineCallbacks.PreviewMode.LATENT_RGB_X2,
                PipelineCallbacks.PreviewMode.VAE)) {
            Recorder a = new Recorder(mode);
            Recorder b = new Recorder(mode);
            List<RequestResult> ra = late.generate(batch(5), a);
            List<RequestResult> rb = inStep.generate(batch(5), b);
            assertEquals(5, a.steps.size(), a.steps.toString());
            for (int k = 0; k < 5; k++) {
                assertTrue(a.steps.get(k).startsWith((k + 1) + "/5@"), a.steps.toString());
            }
            assertEquals(b.steps, a.steps);
            for (int i = 0; i < a.x0.size(); i++) {
                assertArrayEquals(b.x0.get(i), a.x0.get(i), "x0 " + i);
                assertArrayEquals(b.latents.get(i), a.latents.get(i), "latents " + i);
            }
            assertEquals(4, a.previews.size()); // steps 2 and 4, two requests
            for (int i = 0; i < a.previews.size(); i++) {
                assertArrayEquals(b.previews.get(i), a.previews.get(i), mode + " preview " + i);
            }
            for (int r = 0; r < 2; r++) {
                assertArrayEquals(assertInstanceOf(RequestResult.Success.class, rb.get(r)).images().get(0).rgb(),
                        assertInstanceOf(RequestResult.Success.class, ra.get(r)).images().get(0).rgb());
            }
        }
    }

    @Test
    void aOneStepRunGetsItsCallback() {
        Recorder a = new Recorder(PipelineCallbacks.PreviewMode.LATENT_RGB);
        late.generate(batch(1), a);
        assertEquals(1, a.steps.size());
        assertTrue(a.steps.get(0).startsWith("1/1@"), a.steps.toString());
        Recorder b = new Recorder(PipelineCallbacks.PreviewMode.LATENT_RGB);
        inStep.generate(batch(1), b);
        assertArrayEquals(b.x0.get(0), a.x0.get(0));
    }

    @Test
    void cancellingInACallbackStopsTheRunWithoutCallbacksAfterIt() {
        for (StableDiffusionPipeline p : List.of(late, inStep)) {
            List<Integer> steps = new ArrayList<>();
            boolean[] cancel = {false};
            List<RequestResult> r = p.generate(batch(6), new PipelineCallbacks() {
                @Override
                public boolean isCancelled(int request) {
                    return cancel[0];
                }

                @Override
                public void onStep(StepView s) {
                    steps.add(s.step());
                    cancel[0] |= s.step() == 2;
                }
            });
            assertEquals(List.of(1, 2), steps, "no callback once every request is found cancelled");
            for (RequestResult x : r) {
                assertEquals(RequestResult.Reason.CANCELLED, assertInstanceOf(RequestResult.Failure.class, x).reason());
            }
        }
    }

    @Test
    void aFailingCallbackEndsTheRunAndTheNextRunWorks() {
        PipelineCallbacks failing = new PipelineCallbacks() {
            @Override
            public void onStep(StepView s) {
                if (s.step() == 3) {
                    throw new IllegalStateException("callback failed");
                }
            }
        };
        assertThrows(IllegalStateException.class, () -> late.generate(batch(5), failing));
        Recorder a = new Recorder(PipelineCallbacks.PreviewMode.LATENT_RGB);
        late.generate(batch(3), a);
        assertEquals(3, a.steps.size());
    }
}
