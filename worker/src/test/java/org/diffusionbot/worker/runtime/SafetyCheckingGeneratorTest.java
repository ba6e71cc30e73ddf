package org.diffusionbot.worker.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.worker.engine.models.SafetyChecker;
import org.junit.jupiter.api.Test;

class SafetyCheckingGeneratorTest {

    static JobRequest job(String prompt, int w, int h, int count) {
        return new JobRequest(UUID.randomUUID(), "sd15", prompt, "", w, h, 2, 7, Sampler.EULER, 5, count, 1, null, null,
                0, Instant.EPOCH);
    }

    @Test
    void onlyJobsThatNeedItAreCheckedOneBatchPerSizeVerdictsInOrder() throws Exception {
        List<String> calls = new ArrayList<>();
        SafetyCheckingGenerator.Check check = (w, h, rgb) -> {
            calls.add(w + "x" + h + ":" + rgb.size());
            List<JobOutcome.Safety> out = new ArrayList<>();
            for (byte[] img : rgb) {
                out.add(new JobOutcome.Safety(out.size() % 2 == 1, out.size() - 0.5f));
            }
            return out;
        };
        // "age-restricted" in the prompt stands for the job's channel flag here
        List<JobRequest> batch = List.of(job("a", 64, 64, 2), job("b age-restricted", 64, 64, 1),
                job("c [fail]", 64, 64, 1), job("d", 64, 96, 1), job("e", 64, 64, 1));
        SafetyCheckingGenerator g = new SafetyCheckingGenerator(new SyntheticGenerator(0), check,
                j -> !j.prompt().contains("age-restricted"), null);
        List<JobOutcome> out = g.generate(g.prepareAll(batch), ImageGenerator.ProgressListener.NONE, id -> false);
        assertEquals(List.of("64x64:3", "64x96:1"), calls);
        List<JobOutcome.Image> a = assertInstanceOf(JobOutcome.Succeeded.class, out.get(0)).images();
        assertEquals(new JobOutcome.Safety(false, -0.5f), a.get(0).safety());
        assertEquals(new JobOutcome.Safety(true, 0.5f), a.get(1).safety());
        assertNull(assertInstanceOf(JobOutcome.Succeeded.class, out.get(1)).images().get(0).safety());
        assertInstanceOf(JobOutcome.Failed.class, out.get(2));
        assertEquals(new JobOutcome.Safety(false, -0.5f),
                assertInstanceOf(JobOutcome.Succeeded.class, out.get(3)).images().get(0).safety());
        assertEquals(new JobOutcome.Safety(false, 1.5f),
                assertInstanceOf(JobOutcome.Succeeded.class, out.get(4)).images().get(0).safety());
    }

    @Test
    void aFailingOrShortCheckFailsTheBatch() {
        List<JobRequest> batch = List.of(job("a", 64, 64, 2));
        SafetyCheckingGenerator broken = new SafetyCheckingGenerator(new SyntheticGenerator(0), (w, h, rgb) -> {
            throw new IllegalStateException("CUDA out of memory");
        }, j -> true, null);
        assertThrows(IllegalStateException.class, () -> broken.generate(broken.prepareAll(batch), ImageGenerator.ProgressListener.NONE, id -> false));
        SafetyCheckingGenerator shortCheck = new SafetyCheckingGenerator(new SyntheticGenerator(0),
                (w, h, rgb) -> List.of(new JobOutcome.Safety(false, 0)), j -> true, null);
        assertThrows(IllegalStateException.class, () -> shortCheck.generate(shortCheck.prepareAll(batch), ImageGenerator.ProgressListener.NONE, id -> false));
    }

    @Test
    void theModelChecksTheGeneratorsImages() throws Exception {
        Path dir;
        try {
            dir = Path.of(getClass().getResource("/safety-checker/safety_checker").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            SafetyChecker model = SafetyChecker.load(dir, m, DataType.FLOAT32, Device.cpu());
            SafetyCheckingGenerator g = new SafetyCheckingGenerator(new SyntheticGenerator(0),
                    (w, h, rgb) -> model.check(m, w, h, rgb).stream()
                            .map(v -> new JobOutcome.Safety(v.nsfw(), v.score())).toList(), j -> true, null);
            JobRequest j = job("a", 64, 64, 2);
            List<JobOutcome.Image> images = assertInstanceOf(JobOutcome.Succeeded.class,
                    g.generate(g.prepareAll(List.of(j)), ImageGenerator.ProgressListener.NONE, id -> false).get(0)).images();
            List<SafetyChecker.Verdict> direct = model.check(m, 64, 64,
                    List.of(SyntheticGenerator.gradient(64, 64, j.seedOf(0)), SyntheticGenerator.gradient(64, 64, j.seedOf(1))));
            for (int k = 0; k < 2; k++) {
                assertEquals(new JobOutcome.Safety(direct.get(k).nsfw(), direct.get(k).score()), images.get(k).safety());
            }
        }
    }
}
