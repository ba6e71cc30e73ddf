package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.junit.jupiter.api.Test;

/**
 * {@link PhaseTimer}: phases and parts timed and counted, the device waited for at each phase boundary only when
 * asked and never for parts; and the pipeline's phases of one run on the tiny model (CPU), in order, within the
 * run's wall time, previews counted.
 */
class PhaseTimerTest {
    @Test
    void phasesTimedAndSynchronisedOnlyWhenAsked() {
        AtomicLong now = new AtomicLong();
        AtomicInteger syncs = new AtomicInteger();
        PhaseTimer quiet = new PhaseTimer(false, syncs::incrementAndGet, now::get);
        try (PhaseTimer.Span s = quiet.phase("text")) {
            now.addAndGet(2_000_000);
        }
        try (PhaseTimer.Span s = quiet.phase("denoise")) {
            try (PhaseTimer.Span p = quiet.part("preview")) {
                now.addAndGet(500_000);
            }
            now.addAndGet(1_000_000);
        }
        try (PhaseTimer.Span s = quiet.phase("denoise")) {
            now.addAndGet(1_000_000);
        }
        assertEquals(0, syncs.get());
        assertEquals(List.of("text", "preview", "denoise"), quiet.names());
        assertEquals(2.0, quiet.ms("text"), 1e-9);
        assertEquals(2.5, quiet.ms("denoise"), 1e-9);
        assertEquals(2, quiet.count("denoise"));
        assertEquals(0.5, quiet.ms("preview"), 1e-9);
        assertEquals(4.5, quiet.sumMs("text", "denoise"), 1e-9);
        assertEquals(0.0, quiet.ms("decode"));
        assertEquals(0, quiet.count("decode"));

        PhaseTimer synced = new PhaseTimer(true, syncs::incrementAndGet, now::get);
        try (PhaseTimer.Span s = synced.phase("decode")) {
            try (PhaseTimer.Span p = synced.part("preview")) {
                assertEquals(1, syncs.get()); // the phase's opening wait; the part adds none
            }
        }
        assertEquals(2, syncs.get());
        assertTrue(synced.synchronised());
    }

    @Test
    void pipelinePhasesInOrderWithinTheRun() {
        try (StableDiffusionPipeline p = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu())) {
            GenerationRequest r = GenerationRequest.of("frogs on stilts", 64, 64, 4, Sampler.EULER, 3);
            PhaseTimer timer = new PhaseTimer(true); // no native library here: the sync is a no-op
            p.setPhaseTimer(timer);
            long t0 = System.nanoTime();
            p.generate(List.of(r), new PipelineCallbacks() {
                @Override
                public boolean previewDue(int request, int step, int totalSteps) {
                    return step % 2 == 0;
                }

                @Override
                public void onStep(StepView s) {
                    if (s.step() % 2 == 0) {
                        s.preview(0, 0);
                    }
                }
            });
            double total = (System.nanoTime() - t0) / 1e6;
            p.setPhaseTimer(null);
            p.generate(List.of(r), PipelineCallbacks.NONE); // not timed
            assertEquals(List.of("text", "latents", "preview", "denoise", "decode"), timer.names());
            for (String n : List.of("text", "latents", "denoise", "decode")) {
                assertEquals(1, timer.count(n), n);
                assertTrue(timer.ms(n) > 0, n);
            }
            assertEquals(2, timer.count("preview"));
            assertTrue(timer.ms("preview") <= timer.ms("denoise"));
            assertTrue(timer.sumMs("text", "latents", "denoise", "decode") <= total);
        }
    }
}
