package org.diffusionbot.worker.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.MessageProperties;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.config.RabbitSettings;
import org.diffusionbot.common.messages.JobProgress;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.JobResult;
import org.diffusionbot.common.messages.Message;
import org.diffusionbot.common.messages.MessageCodec;
import org.diffusionbot.common.mq.RabbitTestSupport;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.worker.WorkerConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Workers serving several models against the real RabbitMQ server: loading on demand within the
 * budget, unloading the least recently used, no job lost while a model loads, and jobs offered first
 * to a worker that has their model loaded (consumer priorities).
 */
class MultiModelWorkerIT {
    private final String prefix = "mm-" + UUID.randomUUID().toString().substring(0, 6);
    private final String a = prefix + "-a";
    private final String b = prefix + "-b";
    private final String resultsQueue = "sd.results." + prefix;
    private Connection conn;
    private Channel ch;
    private final Map<UUID, Message> results = new ConcurrentHashMap<>();
    private final List<JobProgress> progress = new CopyOnWriteArrayList<>();
    private final List<WorkerRuntime> runtimes = new ArrayList<>();
    private final List<String> loads = new CopyOnWriteArrayList<>();
    /** Simulated device memory held by loaded models, and its high-water mark. */
    private final AtomicLong held = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();

    @BeforeEach
    void setUp() throws Exception {
        conn = RabbitTestSupport.connect("multi-model-test");
        ch = conn.createChannel();
        Topology.declareShared(ch);
        Topology.declareResults(ch, resultsQueue);
        ch.basicConsume(resultsQueue, true, (t, d) -> {
            Message m = decode(d.getBody());
            if (m instanceof JobResult r) {
                results.merge(r.jobId(), m, (x, y) -> {
                    throw new AssertionError("two results for job " + r.jobId());
                });
            } else {
                results.put(((org.diffusionbot.common.messages.JobFailure) m).jobId(), m);
            }
        }, t -> { });
        Channel p = conn.createChannel();
        String pq = Topology.declarePrivateQueue(p, Topology.PROGRESS_EXCHANGE, "#");
        p.basicConsume(pq, true, (t, d) -> {
            if (decode(d.getBody()) instanceof JobProgress jp) {
                progress.add(jp);
            }
        }, t -> { });
    }

    @AfterEach
    void tearDown() throws Exception {
        for (WorkerRuntime r : runtimes) {
            r.close();
        }
        try (Channel c = conn.createChannel()) {
            c.queueDelete(Topology.jobsQueue(a));
            c.queueDelete(Topology.jobsQueue(b));
            c.queueDelete(resultsQueue);
            c.queueDelete(Topology.deadQueueFor(resultsQueue));
        }
        conn.close();
    }

    /** A worker serving a and b (each "takes" 6 units; {@code budget} units), with {@code preload} loaded first. */
    private WorkerRuntime worker(String id, long budget, String preload, long loadMillis, SimpleMeterRegistry registry)
            throws Exception {
        WorkerMetrics metrics = new WorkerMetrics(registry);
        Map<String, Long> sizes = new LinkedHashMap<>();
        sizes.put(a, 6L);
        sizes.put(b, 6L);
        ModelPool pool = new ModelPool(sizes, budget, "synthetic", name -> {
            Thread.sleep(loadMillis);
            loads.add(id + ":" + name);
            long now = held.addAndGet(6);
            peak.accumulateAndGet(now, Math::max);
            SyntheticGenerator g = new SyntheticGenerator(2_000_000);
            return new ModelPool.Loaded(new ImageGenerator() {
                @Override
                public String device() {
                    return g.device();
                }

                @Override
                public List<JobOutcome> generate(List<PreparedJob> batch, ProgressListener l,
                        java.util.function.Predicate<UUID> cancelled) throws Exception {
                    return g.generate(batch, l, cancelled);
                }

                @Override
                public void close() {
                    held.addAndGet(-6);
                }
            }, 6);
        }, metrics);
        pool.acquire(preload, (n, last) -> { });
        WorkerConfig config = new WorkerConfig(Path.of("."), a, id, "cpu", 4, 1, null, Duration.ofMinutes(5),
                new RabbitSettings(RabbitTestSupport.settings().uri(), 3, 15));
        WorkerRuntime w = new WorkerRuntime(config, pool, Clock.systemUTC(), metrics);
        w.start();
        runtimes.add(w);
        return w;
    }

    private JobRequest job(String model, String prompt) {
        return new JobRequest(UUID.randomUUID(), model, prompt, "", 64, 64, 5, 7, Sampler.EULER, 5, 1, 1, null,
                null, 2, Instant.now());
    }

    private void publish(JobRequest r) throws Exception {
        ch.confirmSelect();
        ch.basicPublish(Topology.JOBS_EXCHANGE, r.model(), true, MessageProperties.PERSISTENT_BASIC.builder()
                .replyTo(resultsQueue).headers(Map.of(Topology.RESULTS_HEADER, resultsQueue)).build(),
                MessageCodec.encode(r));
        ch.waitForConfirmsOrDie(5_000);
    }

    private JobResult awaitResult(UUID job) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            Message m = results.get(job);
            if (m != null) {
                return assertInstanceOf(JobResult.class, m);
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no result for job " + job + "; results: " + results.keySet());
    }

    @Test
    void aModelThatIsNotLoadedIsLoadedOnDemandWithinTheBudgetAndItsJobsAreToldSo() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        worker("w1", 10, a, 300, registry); // room for one model
        JobRequest forB = job(b, "needs b");
        publish(forB);
        assertEquals("w1", awaitResult(forB.jobId()).workerId());
        JobProgress first = progress.stream().filter(p -> p.jobId().equals(forB.jobId())).findFirst().orElseThrow();
        assertEquals(0, first.step(), "the first progress of a job waiting for a load is step 0");
        assertEquals(b, first.loadingModel(), "and says which model is being loaded");
        JobRequest forA = job(a, "needs a again");
        publish(forA);
        assertEquals("w1", awaitResult(forA.jobId()).workerId());
        assertEquals(List.of("w1:" + a, "w1:" + b, "w1:" + a), loads);
        assertTrue(peak.get() <= 10, "never more than the budget loaded: " + peak.get());
        assertEquals(1.0, registry.get("diffusionbot.worker.model.evictions").tag("model", a).counter().count());
        assertEquals(1.0, registry.get("diffusionbot.worker.model.evictions").tag("model", b).counter().count());
    }

    @Test
    void noJobIsLostOrDoubledWhileModelsLoadAndUnload() throws Exception {
        worker("w1", 10, a, 200, new SimpleMeterRegistry());
        List<JobRequest> jobs = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            JobRequest r = job(i % 3 == 0 ? b : a, "job " + i);
            jobs.add(r);
            publish(r);
        }
        for (JobRequest r : jobs) {
            awaitResult(r.jobId());
        }
        assertEquals(12, results.size());
        assertTrue(peak.get() <= 10, "never more than the budget loaded: " + peak.get());
        assertTrue(loads.size() <= 4, "jobs of the loaded model go first, so loads stay few: " + loads);
    }

    @Test
    void jobsGoFirstToAWorkerThatHasTheirModelLoaded() throws Exception {
        worker("has-a", 100, a, 0, new SimpleMeterRegistry());
        worker("has-b", 100, b, 0, new SimpleMeterRegistry());
        Thread.sleep(300); // both consumers registered
        List<JobRequest> jobs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            jobs.add(job(a, "a " + i));
            jobs.add(job(b, "b " + i));
        }
        for (JobRequest r : jobs) {
            publish(r);
            assertEquals(r.model().equals(a) ? "has-a" : "has-b", awaitResult(r.jobId()).workerId(), r.prompt());
        }
        assertEquals(List.of("has-a:" + a, "has-b:" + b), loads, "neither worker had to load the other's model");
    }

    private static Message decode(byte[] body) {
        try {
            return MessageCodec.decode(body);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
