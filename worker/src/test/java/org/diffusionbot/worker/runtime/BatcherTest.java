package org.diffusionbot.worker.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.messages.JobRequest;
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
        assertEquals(List.of(shortA, shortC), Batcher.take(pending, j -> j, chunks::get, 8));
        assertEquals(List.of(longB, longD), Batcher.take(pending, j -> j, chunks::get, 8));
        assertEquals(List.of(), pending);
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
}
