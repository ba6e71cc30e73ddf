package org.diffusionbot.worker.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ModelPoolTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final WorkerMetrics metrics = new WorkerMetrics(registry);
    /** Simulated device memory: what loaded models hold (a load adds, a close frees). */
    private final AtomicLong allocated = new AtomicLong();
    private long peak;
    private final List<String> loads = new ArrayList<>();
    private final List<String> closed = new ArrayList<>();

    private ModelPool pool(Map<String, Long> sizes, long budget) {
        return new ModelPool(sizes, budget, "sim", name -> {
            loads.add(name);
            long size = sizes.get(name);
            peak = Math.max(peak, allocated.addAndGet(size));
            return new ModelPool.Loaded(new ImageGenerator() {
                @Override
                public String device() {
                    return "sim";
                }

                @Override
                public List<JobOutcome> generate(List<PreparedJob> batch,
                        ProgressListener progress, java.util.function.Predicate<java.util.UUID> cancelled) {
                    return List.of();
                }

                @Override
                public void close() {
                    allocated.addAndGet(-size);
                    closed.add(name);
                }
            }, size);
        }, metrics);
    }

    @Test
    void heartbeatsDescribeModelsNotLoadedFromWhatTheCheckFoundAndLoadedOnesAsTheyAre() throws Exception {
        var xl = new org.diffusionbot.common.messages.WorkerHeartbeat.ModelInfo("xl", "sdxl", 1024, 1024);
        ModelPool p = new ModelPool(sizes("xl", 5, "plain", 5), 5, "sim", name -> new ModelPool.Loaded(
                new SyntheticGenerator(1), 5), metrics, List.of(), Map.of("xl", xl));
        assertEquals(List.of(xl), p.modelInfo(), "an SDXL model not loaded is still SDXL; one never described is left out");
        p.acquire("plain", (n, last) -> { });
        assertEquals(List.of(xl, new SyntheticGenerator(1).modelInfo("plain")), p.modelInfo());
    }

    private static Map<String, Long> sizes(Object... nameSize) {
        Map<String, Long> m = new LinkedHashMap<>();
        for (int i = 0; i < nameSize.length; i += 2) {
            m.put((String) nameSize[i], ((Number) nameSize[i + 1]).longValue());
        }
        return m;
    }

    @Test
    void loadsOnDemandKeepsRecentlyUsedModelsAndUnloadsTheLeastRecentlyUsedToFit() throws Exception {
        ModelPool p = pool(sizes("a", 4, "b", 4, "c", 4), 10);
        assertEquals(List.of(), p.resident());
        p.acquire("a", (n, last) -> { });
        p.acquire("b", (n, last) -> { });
        assertEquals(List.of("b", "a"), p.resident());
        p.acquire("a", (n, last) -> { }); // a is now the most recent: b goes for c
        p.acquire("c", (n, last) -> { });
        assertEquals(List.of("c", "a"), p.resident());
        assertEquals(List.of("b"), closed);
        assertEquals(List.of("a", "b", "c"), loads, "a resident model is never loaded again");
        assertEquals(1.0, registry.get("diffusionbot.worker.model.evictions").tag("model", "b").counter().count());
        assertEquals(1.0, registry.get("diffusionbot.worker.model.resident").tag("model", "a").gauge().value());
        assertEquals(0.0, registry.get("diffusionbot.worker.model.resident").tag("model", "b").gauge().value());
        assertEquals(3, registry.get("diffusionbot.worker.model.loads").counters().stream().mapToDouble(c -> c.count()).sum());
    }

    @Test
    void noSequenceOfJobsTakesMoreThanTheBudget() throws Exception {
        Map<String, Long> s = sizes("a", 3, "b", 5, "c", 2, "d", 7, "e", 1);
        ModelPool p = pool(s, 9);
        Random rnd = new Random(42);
        List<String> names = new ArrayList<>(s.keySet());
        for (int i = 0; i < 500; i++) {
            String m = names.get(rnd.nextInt(names.size()));
            p.acquire(m, (n, last) -> { });
            assertTrue(allocated.get() <= 9, "allocated " + allocated.get() + " after " + m);
            assertEquals(m, p.resident().get(0));
        }
        assertTrue(peak <= 9, "peak " + peak);
        p.close();
        assertEquals(0, allocated.get(), "close unloads everything");
    }

    @Test
    void aModelBiggerThanTheBudgetIsRefusedUpFront() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> pool(sizes("small", 1L << 30, "huge", 12L << 30), 8L << 30));
        assertTrue(e.getMessage().contains("huge needs about 12.0 GiB, more than the memory budget of 8.0 GiB"), e.getMessage());
    }

    @Test
    void theLoadListenerHearsOfEachLoadWithTheLastLoadTime() throws Exception {
        ModelPool p = pool(sizes("a", 6, "b", 6), 10);
        List<String> heard = new ArrayList<>();
        List<Duration> lastTimes = new ArrayList<>();
        ModelPool.LoadListener l = (n, last) -> {
            heard.add(n);
            lastTimes.add(last);
        };
        p.acquire("a", l);
        p.acquire("b", l); // a goes: 12 > 10
        p.acquire("b", l); // resident: no load
        p.acquire("a", l);
        assertEquals(List.of("a", "b", "a"), heard);
        assertNull(lastTimes.get(0));
        assertTrue(lastTimes.get(2) != null, "the second load of a knows how long the first took");
    }

    @Test
    void aFailedLoadLeavesNothingBehindAndAnUnknownModelIsRefused() throws Exception {
        Map<String, Long> s = sizes("a", 4, "broken", 4);
        ModelPool p = new ModelPool(s, 10, "sim", name -> {
            if (name.equals("broken")) {
                throw new java.io.IOException("truncated checkpoint");
            }
            return new ModelPool.Loaded(new SyntheticGenerator(0), 4);
        }, metrics);
        assertThrows(java.io.IOException.class, () -> p.acquire("broken", (n, last) -> { }));
        assertEquals(List.of(), p.resident());
        p.acquire("a", (n, last) -> { });
        assertEquals(List.of("a"), p.resident());
        assertThrows(IllegalArgumentException.class, () -> p.acquire("other", (n, last) -> { }));
    }

    @Test
    void theMeasuredSizeReplacesTheEstimate() throws Exception {
        // estimated 6 each (two would not fit in 10); measured 3: both stay
        Map<String, Long> s = sizes("a", 6, "b", 6);
        ModelPool p = new ModelPool(s, 10, "sim", name -> new ModelPool.Loaded(new SyntheticGenerator(0), 3), metrics);
        p.acquire("a", (n, last) -> { });
        p.acquire("b", (n, last) -> { });
        assertEquals(List.of("b", "a"), p.resident());
    }
}
