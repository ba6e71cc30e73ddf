package org.diffusionbot.worker.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.messages.JobFailure;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.TinyModels;
import org.junit.jupiter.api.Test;

/** Two jobs through the runtime adapter with the tiny model. */
class DiffusionGeneratorTest {

    private static JobRequest job(String prompt, long seed, int count, byte[] init, Double strength, int previewEvery) {
        return new JobRequest(UUID.randomUUID(), "tiny", prompt, "", 64, 64, 4, 7.0, Sampler.EULER, seed, count, 1, init,
                strength, previewEvery, Instant.now());
    }

    @Test
    void twoJobsGetTheirImagesProgressPreviewsAndNotes() throws Exception {
        DiffusionGenerator gen = new DiffusionGenerator(TinyModels.folder(), PipelineCallbacks.PreviewMode.LATENT_RGB_X2, false);
        assertEquals("cpu", gen.device());
        JobRequest a = job("frogs on stilts", 41, 2, null, null, 2);
        JobRequest b = job("word ".repeat(80) + "castle", 7, 1, null, null, 0);
        List<String> events = new ArrayList<>();
        List<ImageGenerator.Preview> previews = new ArrayList<>();
        List<JobOutcome> out = gen.generate(gen.prepareAll(List.of(a, b)), new ImageGenerator.ProgressListener() {
            @Override
            public boolean previewDue(UUID jobId, int step, int total) {
                return step == 2 && jobId.equals(a.jobId()); // b has previews off; rendered only when due
            }

            @Override
            public void onStep(UUID jobId, int step, int total, ImageGenerator.Preview preview) {
                events.add((jobId.equals(a.jobId()) ? "a" : "b") + step + "/" + total + (preview != null ? "p" : ""));
                if (preview != null) {
                    previews.add(preview);
                }
                if (jobId.equals(b.jobId())) {
                    assertNull(preview, "job b has no preview due");
                }
            }
        }, id -> false);
        assertEquals(List.of("a1/4", "b1/4", "a2/4p", "b2/4", "a3/4", "b3/4", "a4/4", "b4/4"), events);
        assertEquals(1, previews.size());
        assertEquals(16, previews.get(0).width());
        assertEquals(16 * 16 * 3, previews.get(0).rgb().length);

        JobOutcome.Succeeded sa = assertInstanceOf(JobOutcome.Succeeded.class, out.get(0));
        assertEquals(2, sa.images().size());
        assertEquals(41, sa.images().get(0).seed());
        assertEquals(42, sa.images().get(1).seed());
        assertEquals(64 * 64 * 3, sa.images().get(1).rgb().length);
        assertEquals(List.of(), sa.notes());
        JobOutcome.Succeeded sb = assertInstanceOf(JobOutcome.Succeeded.class, out.get(1));
        assertEquals(1, sb.notes().size());
        assertEquals("long prompt (81 tokens): encoded in 2 chunks of 75 tokens", sb.notes().get(0));

        // the second image of a job equals the same seed run as its own job's first image (next to the
        // same job b: b's 2-chunk prompt pads a's conditioning to 2 chunks of 77 tokens)
        JobOutcome.Succeeded alone = assertInstanceOf(JobOutcome.Succeeded.class, gen.generate(
                gen.prepareAll(List.of(job("frogs on stilts", 42, 1, null, null, 0), b)), listenerNone(), id -> false).get(0));
        byte[] x = alone.images().get(0).rgb();
        byte[] y = sa.images().get(1).rgb();
        for (int i = 0; i < x.length; i++) {
            assertTrue(Math.abs((x[i] & 0xFF) - (y[i] & 0xFF)) <= 1);
        }
    }

    @Test
    void badInitImageAndCancellationBecomeFailures() throws Exception {
        DiffusionGenerator gen = new DiffusionGenerator(TinyModels.folder(), PipelineCallbacks.PreviewMode.LATENT_RGB, false);
        JobRequest bad = job("frogs", 1, 1, "garbage".getBytes(), 0.5, 0);
        List<JobOutcome> out = gen.generate(gen.prepareAll(List.of(bad)), listenerNone(), id -> false);
        JobOutcome.Failed f = assertInstanceOf(JobOutcome.Failed.class, out.get(0));
        assertEquals(JobFailure.Code.INVALID_REQUEST, f.code());
        assertNotNull(f.message());
        JobRequest c = job("frogs", 3, 1, null, null, 0);
        out = gen.generate(gen.prepareAll(List.of(c)), listenerNone(), id -> true);
        assertEquals(JobFailure.Code.CANCELLED, assertInstanceOf(JobOutcome.Failed.class, out.get(0)).code());
    }

    @Test
    void promptChunksCountTheLongerOfPromptAndNegativeIn75TokenChunks() {
        DiffusionGenerator gen = new DiffusionGenerator(TinyModels.folder(), PipelineCallbacks.PreviewMode.LATENT_RGB, false);
        assertEquals(1, gen.prepare(job("frogs on stilts", 1, 1, null, null, 0)).key().promptChunks());
        assertEquals(2, gen.prepare(job("word ".repeat(80) + "castle", 1, 1, null, null, 0)).key().promptChunks());
        JobRequest longNegative = new JobRequest(UUID.randomUUID(), "tiny", "frogs", "blurry ".repeat(160), 64, 64, 4, 7.0,
                Sampler.EULER, 1, 1, 1, null, null, 0, Instant.now());
        assertEquals(3, gen.prepare(longNegative).key().promptChunks());
    }

    @Test
    void aJobIsPreparedOnceAndRunAsPrepared() throws Exception {
        DiffusionGenerator gen = new DiffusionGenerator(TinyModels.folder(), PipelineCallbacks.PreviewMode.LATENT_RGB, false);
        JobRequest job = job("word ".repeat(80) + "castle", 3, 1, null, null, 0);
        PreparedJob p = gen.prepare(job);
        assertEquals(Batcher.keyOf(job, 2), p.key(), "the key, with the chunk count, comes from the one tokenization");
        assertEquals(DiffusionGenerator.toRequest(job), p.request().request());
        JobOutcome.Succeeded prepared = assertInstanceOf(JobOutcome.Succeeded.class,
                gen.generate(List.of(p), listenerNone(), id -> false).get(0));
        // a job the runtime could not prepare is prepared by the generator: the same image
        JobOutcome.Succeeded late = assertInstanceOf(JobOutcome.Succeeded.class,
                gen.generate(List.of(PreparedJob.alone(job)), listenerNone(), id -> false).get(0));
        assertArrayEquals(late.images().get(0).rgb(), prepared.images().get(0).rgb());
    }

    private static ImageGenerator.ProgressListener listenerNone() {
        return new ImageGenerator.ProgressListener() {
            @Override
            public boolean previewDue(UUID jobId, int step, int totalSteps) {
                return false;
            }

            @Override
            public void onStep(UUID jobId, int step, int totalSteps, ImageGenerator.Preview preview) {}
        };
    }
}
