package org.diffusionbot.worker.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.worker.engine.pipeline.BatchKey;
import org.diffusionbot.worker.engine.pipeline.GenerationRequest;
import org.junit.jupiter.api.Test;

class BatcherTest {

    private static JobRequest job(String prompt, int width, int steps, int count) {
        return new JobRequest(UUID.randomUUID(), "sd15", prompt, "", width, 512, steps, 7.0, Sampler.EULER, 1, count, 1,
                null, null, 0, Instant.now());
    }

    @Test
    void takesTheOldestAndEveryLaterCompatibleJobUpToTheCapacityKeepingOrder() {
        JobRequest a = job("a", 512, 20, 2);
        JobRequest otherSize = job("b", 768, 20, 1);
        JobRequest c = job("c", 512, 20, 4);
        JobRequest otherSteps = job("d", 512, 30, 1);
        JobRequest tooMany = job("e", 512, 20, 3);
        JobRequest f = job("f", 512, 20, 2);
        List<JobRequest> pending = new ArrayList<>(List.of(a, otherSize, c, otherSteps, tooMany, f));
        List<JobRequest> batch = Batcher.take(pending, j -> j, 8);
        assertEquals(List.of(a, c, f), batch);
        assertEquals(List.of(otherSize, otherSteps, tooMany), pending);
    }

    @Test
    void theOldestJobIsTakenEvenWhenItAloneExceedsTheCapacity() {
        JobRequest big = job("big", 512, 20, 4);
        JobRequest small = job("small", 512, 20, 1);
        List<JobRequest> pending = new ArrayList<>(List.of(big, small));
        assertEquals(List.of(big), Batcher.take(pending, j -> j, 2));
        assertEquals(List.of(small), Batcher.take(pending, j -> j, 2));
        assertEquals(List.of(), Batcher.take(pending, j -> j, 2));
    }

    @Test
    void jobsWithDifferentPromptChunkCountsAreNotBatchedTogether() {
        JobRequest shortA = job("short a", 512, 20, 1);
        JobRequest longB = job("long b", 512, 20, 1);
        JobRequest shortC = job("short c", 512, 20, 1);
        JobRequest longD = job("long d", 512, 20, 1);
        Map<JobRequest, Integer> chunks = Map.of(shortA, 1, longB, 2, shortC, 1, longD, 2);
        List<JobRequest> pending = new ArrayList<>(List.of(shortA, longB, shortC, longD));
        assertEquals(List.of(shortA, shortC), Batcher.take(pending, j -> j, j -> Batcher.keyOf(j, chunks.get(j)), 8));
        assertEquals(List.of(longB, longD), Batcher.take(pending, j -> j, j -> Batcher.keyOf(j, chunks.get(j)), 8));
        assertEquals(List.of(), pending);
    }

    private static JobRequest job(String prompt, String negative) {
        return new JobRequest(UUID.randomUUID(), "sd15", prompt, negative, 512, 512, 20, 7.0, Sampler.EULER, 1, 1, 1,
                null, null, 0, Instant.now());
    }

    @Test
    void onlyJobsWithTheSameLoraSetShareABatch() {
        JobRequest a = job("a castle <lora:Water:0.8>", "");
        JobRequest b = job("<lora:water:0.5> a lake", "blurry <lora:WATER:0.3>"); // the same set: water 0.8
        JobRequest other = job("a castle <lora:water:0.7>", "");
        JobRequest te = job("a castle <lora:water:0.8:1>", ""); // another UNet weight
        JobRequest none = job("a castle", "");
        JobRequest zero = job("a castle <lora:water:0>", ""); // weight 0 changes nothing: no LoRA
        JobRequest broken = job("a castle <lora:water:x>", "");
        JobRequest brokenToo = job("a castle <lora:water:x>", "");
        List<JobRequest> pending = new ArrayList<>(List.of(a, none, other, b, te, zero, broken, brokenToo));
        assertEquals(List.of(a, b), Batcher.take(pending, j -> j, 8));
        assertEquals(List.of(none, zero), Batcher.take(pending, j -> j, 8));
        assertEquals(List.of(other), Batcher.take(pending, j -> j, 8));
        assertEquals(List.of(te), Batcher.take(pending, j -> j, 8));
        assertEquals(List.of(broken), Batcher.take(pending, j -> j, 8), "a job whose tags do not parse fails alone");
        assertEquals(List.of(brokenToo), pending);
    }

    @Test
    void loraSetsTakeTurnsOldestFirstSoNoSetStarves() {
        // jobs alternate between two sets and keep coming: each batch starts with the oldest waiting job
        List<JobRequest> pending = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            pending.add(job("x <lora:" + (i % 2 == 0 ? "a" : "b") + ":1>", ""));
        }
        List<JobRequest> jobs = List.copyOf(pending);
        assertEquals(List.of(jobs.get(0), jobs.get(2)), Batcher.take(pending, j -> j, 2), "set a's two oldest");
        pending.add(job("x <lora:a:1>", "")); // a newer job of the set that just ran
        List<JobRequest> second = Batcher.take(pending, j -> j, 2);
        assertEquals(2, second.size());
        second.forEach(j -> assertEquals(true, j.prompt().contains("lora:b"), "set b's turn, not a's newest job"));
    }

    @Test
    void jobsWithDifferentSchedulesAreNotBatchedTogether() {
        JobRequest plain = job("a", 512, 20, 1);
        JobRequest karras = job("b", 512, 20, 1).withSchedule(Schedule.KARRAS);
        JobRequest explicitDefault = job("c", 512, 20, 1).withSchedule(Schedule.DEFAULT);
        List<JobRequest> pending = new ArrayList<>(List.of(plain, karras, explicitDefault));
        assertEquals(List.of(plain, explicitDefault), Batcher.take(pending, j -> j, 8));
        assertEquals(List.of(karras), Batcher.take(pending, j -> j, 8));
    }

    @Test
    void theBatchKeyIsTheOneRuleForTheBatcherAndThePipeline() {
        JobRequest a = job("a <lora:x:1>", 512, 20, 1);
        GenerationRequest r = DiffusionGenerator.toRequest(a);
        BatchKey key = Batcher.keyOf(a, 1);
        assertEquals(key, BatchKey.of(r, 1), "a job and its pipeline request have one key");
        assertEquals(key, Batcher.keyOf(job("another prompt <lora:X:1>", 512, 20, 3).withSchedule(Schedule.DEFAULT), 1),
                "prompt, count and how the LoRA is written do not matter");
        for (GenerationRequest other : List.of(r.withSeeds(List.of(9L, 10L)), r.withGuidanceScale(3), r.withClipSkip(2),
                r.withNegativePrompt("blurry"))) {
            assertEquals(key, BatchKey.of(other, 1), "seeds, guidance, clip skip and negative prompt may differ");
        }
        // what one UNet run needs: the pipeline refuses a batch without it
        for (GenerationRequest other : List.of(r.withSchedule(Schedule.KARRAS), r.withInitImage(new byte[] {1}, 0.5),
                new GenerationRequest(r.prompt(), "", r.seeds(), 7, 1, 512, 576, 20, Sampler.EULER, null, null))) {
            assertNotEquals(key, BatchKey.of(other, 1));
            assertFalse(key.sameRun(BatchKey.of(other, 1)));
        }
        // what keeps each image as it is alone: the batcher never mixes it, the pipeline pads or fails
        for (BatchKey other : List.of(Batcher.keyOf(a, 2), Batcher.keyOf(job("a <lora:x:0.5>", 512, 20, 1), 1),
                Batcher.keyOf(job("a", 512, 20, 1), 1))) {
            assertNotEquals(key, other);
            assertTrue(key.sameRun(other));
        }
        BatchKey broken = Batcher.keyOf(job("a <lora:x:y>", 512, 20, 1), 1);
        assertNotEquals(broken, Batcher.keyOf(job("a <lora:x:y>", 512, 20, 1), 1), "unparseable tags: a key of its own");
        assertNotEquals(BatchKey.alone(), BatchKey.alone());
    }

    @Test
    void jobsOfAnotherModelAreNeverTakenWhateverTheirKey() {
        JobRequest a = job("a", 512, 20, 1);
        JobRequest other = new JobRequest(UUID.randomUUID(), "sdxl", "a", "", 512, 512, 20, 7.0, Sampler.EULER, 1, 1, 1,
                null, null, 0, Instant.now());
        List<JobRequest> pending = new ArrayList<>(List.of(a, other));
        assertEquals(List.of(a), Batcher.take(pending, j -> j, 8));
        assertEquals(List.of(other), pending);
    }
}
