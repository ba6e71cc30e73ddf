package org.diffusionbot.worker.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.MessageProperties;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.config.RabbitSettings;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.common.messages.CancelJob;
import org.diffusionbot.common.messages.JobFailure;
import org.diffusionbot.common.messages.JobProgress;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.JobResult;
import org.diffusionbot.common.messages.Message;
import org.diffusionbot.common.messages.MessageCodec;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.mq.RabbitTestSupport;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.worker.WorkerConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The worker runtime against the real RabbitMQ server, with the synthetic pipeline. */
class WorkerRuntimeIT {
    private final String model = "rt-" + UUID.randomUUID().toString().substring(0, 8);
    /** This test's own results queue (as a bot deployment's), named in every job's reply_to. */
    private final String resultsQueue = "sd.results." + model;
    private final String deadQueue = Topology.deadQueueFor(resultsQueue);
    private Connection conn;
    private Channel ch;
    private final BlockingQueue<Message> results = new LinkedBlockingQueue<>();
    private final BlockingQueue<Message> progress = new LinkedBlockingQueue<>();
    private final List<Integer> batchSizes = new CopyOnWriteArrayList<>();
    private WorkerRuntime runtime;
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @BeforeEach
    void setUp() throws Exception {
        conn = RabbitTestSupport.connect("worker-runtime-test");
        ch = conn.createChannel();
        Topology.declareShared(ch);
        Topology.declareJobsQueue(ch, model, 2);
        Topology.declareResults(ch, resultsQueue);
        ch.basicConsume(resultsQueue, true, (t, d) -> results.add(decode(d.getBody())), t -> { });
        Channel p = conn.createChannel();
        String pq = Topology.declarePrivateQueue(p, Topology.PROGRESS_EXCHANGE, "#");
        p.queueBind(pq, Topology.HEARTBEATS_EXCHANGE, "");
        p.basicConsume(pq, true, (t, d) -> progress.add(decode(d.getBody())), t -> { });
    }

    @AfterEach
    void tearDown() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
        try (Channel c = conn.createChannel()) {
            c.queueDelete(Topology.jobsQueue(model));
            c.queueDelete(resultsQueue);
            c.queueDelete(deadQueue);
        }
        conn.close();
    }

    private void startWorker(int batchSize, long stepNanos) throws Exception {
        SyntheticGenerator synthetic = new SyntheticGenerator(stepNanos);
        ImageGenerator recording = new ImageGenerator() {
            @Override
            public String device() {
                return synthetic.device();
            }

            @Override
            public List<JobOutcome> generate(List<PreparedJob> batch, ProgressListener l, Predicate<UUID> cancelled)
                    throws Exception {
                batchSizes.add(batch.size());
                return synthetic.generate(batch, l, cancelled);
            }
        };
        startWorker(batchSize, recording);
    }

    private void startWorker(int batchSize, ImageGenerator generator) throws Exception {
        WorkerConfig config = new WorkerConfig(Path.of("."), model, "test-worker", "cpu", batchSize, 1, null, java.time.Duration.ofMinutes(5),
                new RabbitSettings(RabbitTestSupport.settings().uri(), 2, 15));
        runtime = new WorkerRuntime(config, generator, Clock.systemUTC(), new WorkerMetrics(registry));
        runtime.start();
    }

    private JobRequest job(String prompt, int steps) {
        return new JobRequest(UUID.randomUUID(), model, prompt, "", 64, 64, steps, 7, Sampler.EULER, 5, 1, 1, null,
                null, 2, Instant.now());
    }

    private void publish(JobRequest r) throws Exception {
        publishRaw(MessageCodec.encode(r));
    }

    private void publishRaw(byte[] body) throws Exception {
        ch.confirmSelect();
        ch.basicPublish(Topology.JOBS_EXCHANGE, model, true, MessageProperties.PERSISTENT_BASIC.builder()
                .replyTo(resultsQueue).headers(java.util.Map.of(Topology.RESULTS_HEADER, resultsQueue)).build(), body);
        ch.waitForConfirmsOrDie(5_000);
    }

    @Test
    void jobProducesProgressWithPreviewsAndAPngResultWithParameters() throws Exception {
        startWorker(4, 1_000_000);
        JobRequest r = job("a lighthouse", 6);
        publish(r);
        JobResult res = assertInstanceOf(JobResult.class, awaitFor(results, r.jobId()));
        assertEquals("test-worker", res.workerId());
        assertEquals(1, res.images().size());
        String params = Png.readText(res.images().get(0).png()).get("parameters");
        assertTrue(params.startsWith("a lighthouse\nSteps: 6, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64"), params);
        List<JobProgress> seen = new ArrayList<>();
        for (Message m : progress) {
            if (m instanceof JobProgress p && p.jobId().equals(r.jobId())) {
                seen.add(p);
            }
        }
        assertTrue(seen.stream().anyMatch(p -> p.previewPng() != null), "a preview was published");
        assertTrue(seen.stream().allMatch(p -> p.totalSteps() == 6));
        assertTrue(progress.stream().anyMatch(m -> m instanceof WorkerHeartbeat h && h.workerId().equals("test-worker")
                && h.models().equals(List.of(model))), "heartbeat seen");
        awaitCount("diffusionbot.worker.jobs", 1, "model", model, "outcome", "succeeded");
        assertEquals(6, registry.get("diffusionbot.worker.steps").tag("model", model).counter().count());
        assertEquals(1, registry.get("diffusionbot.worker.images").tag("model", model).counter().count());
        assertEquals(1, registry.get("diffusionbot.worker.batch.duration").tag("model", model).timer().count());
        assertEquals(0, registry.get("diffusionbot.worker.lora.switches").tag("model", model).counter().count(),
                "the series exists; the synthetic generator never switches LoRA sets");
        assertTrue(registry.get("diffusionbot.worker.steps.per.second").tag("model", model).gauge().value() > 0);
    }

    /** The model's sidecar recommendation goes out in heartbeats; a job's schedule reaches its PNG as A1111 names it. */
    @Test
    void heartbeatsAnnounceModelDefaultsAndThePngNamesTheSchedule() throws Exception {
        WorkerHeartbeat.ModelDefaults d = new WorkerHeartbeat.ModelDefaults(model, Sampler.EULER,
                org.diffusionbot.common.Schedule.TRAILING, 4, 1.0);
        WorkerConfig config = new WorkerConfig(Path.of("."), model, "test-worker", "cpu", 1, 1, null,
                java.time.Duration.ofMinutes(5), new RabbitSettings(RabbitTestSupport.settings().uri(), 2, 15));
        WorkerMetrics metrics = new WorkerMetrics(registry);
        runtime = new WorkerRuntime(config, ModelPool.of(model, new SyntheticGenerator(0), metrics, d),
                Clock.systemUTC(), metrics);
        runtime.start();
        JobRequest r = job("a lighthouse", 4).withSchedule(org.diffusionbot.common.Schedule.TRAILING);
        publish(r);
        JobResult res = assertInstanceOf(JobResult.class, awaitFor(results, r.jobId()));
        String params = Png.readText(res.images().get(0).png()).get("parameters");
        assertTrue(params.startsWith("a lighthouse\nSteps: 4, Sampler: Euler, Schedule type: SGM Uniform, CFG scale: 7,"),
                params);
        assertTrue(progress.stream().anyMatch(m -> m instanceof WorkerHeartbeat h && h.workerId().equals("test-worker")
                && h.modelDefaults().equals(List.of(d))), "heartbeats announce the model's defaults");
    }

    /**
     * A multi-model worker describes in its heartbeats a model it has not loaded as its checkpoint says (SDXL at 1024),
     * not as SD 1.x; a job's guidance rescale reaches its PNG as A1111's CFG rescale extension writes it.
     */
    @Test
    void heartbeatsDescribeModelsNotLoadedAndThePngCarriesTheGuidanceRescale() throws Exception {
        String xl = model + "-xl";
        WorkerHeartbeat.ModelInfo xlInfo = new WorkerHeartbeat.ModelInfo(xl, "sdxl", 1024, 1024);
        WorkerConfig config = new WorkerConfig(Path.of("."), model, "test-worker", "cpu", 1, 1, null,
                java.time.Duration.ofMinutes(5), new RabbitSettings(RabbitTestSupport.settings().uri(), 2, 15));
        WorkerMetrics metrics = new WorkerMetrics(registry);
        java.util.Map<String, Long> sizes = new java.util.LinkedHashMap<>();
        sizes.put(model, 1L);
        sizes.put(xl, 1L);
        ModelPool pool = new ModelPool(sizes, 1, "synthetic", name -> new ModelPool.Loaded(new SyntheticGenerator(0), 1),
                metrics, List.of(), java.util.Map.of(xl, xlInfo));
        pool.acquire(model, (n, last) -> { });
        runtime = new WorkerRuntime(config, pool, Clock.systemUTC(), metrics);
        try {
            runtime.start();
            JobRequest r = new JobRequest(UUID.randomUUID(), model, "a lighthouse", "", 64, 64, 4, 7, Sampler.EULER, 5,
                    1, 1, null, null, 2, Instant.now(), false, 0.7, null);
            publish(r);
            JobResult res = assertInstanceOf(JobResult.class, awaitFor(results, r.jobId()));
            String params = Png.readText(res.images().get(0).png()).get("parameters");
            assertTrue(params.endsWith(", CFG Rescale φ: 0.7"), params);
            long deadline = System.nanoTime() + 10_000_000_000L;
            WorkerHeartbeat seen = null;
            while (seen == null && System.nanoTime() < deadline) {
                seen = progress.stream().filter(m -> m instanceof WorkerHeartbeat h && h.workerId().equals("test-worker")
                        && h.residentModels().equals(List.of(model))).map(m -> (WorkerHeartbeat) m).findFirst()
                        .orElse(null);
                Thread.sleep(50);
            }
            assertTrue(seen != null, "a heartbeat with only " + model + " loaded");
            assertEquals(List.of(new SyntheticGenerator(0).modelInfo(model), xlInfo), seen.modelInfo());
        } finally {
            try (Channel c = conn.createChannel()) {
                c.queueDelete(Topology.jobsQueue(xl));
            }
        }
    }

    @Test
    void safetyVerdictsTravelWithTheResultAndHeartbeatsSayTheWorkerChecks() throws Exception {
        startWorker(1, new SafetyCheckingGenerator(new SyntheticGenerator(0), (w, h, rgb) -> rgb.stream()
                .map(img -> new JobOutcome.Safety(true, 0.25f)).toList(), SafetyCheckingGenerator::needsCheck, null));
        JobRequest ordinary = job("a lighthouse", 2);
        JobRequest restricted = job("a lighthouse", 2).withAgeRestricted(true);
        publish(ordinary);
        publish(restricted);
        JobResult checked = assertInstanceOf(JobResult.class, awaitFor(results, ordinary.jobId()));
        assertEquals(List.of(new JobResult.Safety(0, true, 0.25)), checked.safety());
        JobResult unchecked = assertInstanceOf(JobResult.class, awaitFor(results, restricted.jobId()));
        assertEquals(List.of(), unchecked.safety(), "images of an age-restricted channel's job are not checked");
        assertTrue(progress.stream().anyMatch(m -> m instanceof WorkerHeartbeat h && h.workerId().equals("test-worker")
                && h.safetyChecker()), "heartbeats announce the checker");
    }

    @Test
    void compatibleQueuedJobsRunAsOneBatch() throws Exception {
        List<JobRequest> jobs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            jobs.add(job("prompt " + i, 3));
            publish(jobs.get(i));
        }
        startWorker(4, 0);
        for (JobRequest r : jobs) {
            assertInstanceOf(JobResult.class, awaitFor(results, r.jobId()));
        }
        assertEquals(4, batchSizes.get(0), "all four queued jobs in the first batch: " + batchSizes);
        awaitCount("diffusionbot.worker.jobs", 4, "model", model, "outcome", "succeeded");
        assertEquals(4.0, registry.get("diffusionbot.worker.batch.size").summary().max());
        assertEquals(3, registry.get("diffusionbot.worker.steps").counter().count(), "one batch of 3 steps");
    }

    @Test
    void malformedMessagesAreDeadLetteredAndTheWorkerCarriesOn() throws Exception {
        startWorker(2, 0);
        publishRaw("{\"type\":\"job_request\",\"schema\":99}".getBytes(StandardCharsets.UTF_8));
        publishRaw(new byte[] {(byte) 0xff, 0, 1});
        JobRequest ok = job("still works", 2);
        publish(ok);
        assertInstanceOf(JobResult.class, awaitFor(results, ok.jobId()));
        assertEquals(2, drain(deadQueue, 2).size());
        awaitCount("diffusionbot.worker.failures", 2, "kind", "malformed");
    }

    @Test
    void permanentFailureIsReportedAndTheJobDeadLettered() throws Exception {
        startWorker(2, 0);
        JobRequest bad = job("this one [fail]s", 2);
        publish(bad);
        JobFailure f = assertInstanceOf(JobFailure.class, awaitFor(results, bad.jobId()));
        assertEquals(JobFailure.Code.NUMERICAL_ERROR, f.code());
        GetResponse dead = drain(deadQueue, 1).get(0);
        assertEquals(bad.jobId(), MessageCodec.decode(dead.getBody(), JobRequest.class).jobId());
        awaitCount("diffusionbot.worker.jobs", 1, "model", model, "outcome", "failed");
        awaitCount("diffusionbot.worker.failures", 1, "kind", "numerical_error");
    }

    @Test
    void transientCrashIsRetriedUpToTheDeliveryLimitThenDeadLettered() throws Exception {
        startWorker(1, 0);
        JobRequest crash = job("[crash]", 2);
        publish(crash);
        GetResponse dead = drain(deadQueue, 1).get(0);
        assertEquals(crash.jobId(), MessageCodec.decode(dead.getBody(), JobRequest.class).jobId());
        assertEquals(3, batchSizes.size(), "first delivery + 2 redeliveries (x-delivery-limit 2)");
        awaitCount("diffusionbot.worker.failures", 3, "kind", "generator_error");
        awaitCount("diffusionbot.worker.jobs", 3, "model", model, "outcome", "requeued");
        assertTrue(results.stream().noneMatch(m -> m instanceof JobResult r && r.jobId().equals(crash.jobId())));
    }

    @Test
    void cancelStopsARunningJobAndSkipsAQueuedOne() throws Exception {
        startWorker(1, 20_000_000); // 20 ms a step
        JobRequest running = job("long", 100);
        JobRequest queued = job("queued behind it", 100);
        publish(running);
        publish(queued);
        awaitFor(progress, running.jobId());
        cancel(queued.jobId());
        cancel(running.jobId());
        JobFailure a = assertInstanceOf(JobFailure.class, awaitFor(results, running.jobId()));
        JobFailure b = assertInstanceOf(JobFailure.class, awaitFor(results, queued.jobId()));
        assertEquals(JobFailure.Code.CANCELLED, a.code());
        assertEquals(JobFailure.Code.CANCELLED, b.code());
        assertEquals(1, batchSizes.size(), "the queued job never reached the pipeline");
    }

    @Test
    void shutdownFinishesTheBatchInHandAndReturnsUnstartedJobs() throws Exception {
        startWorker(1, 10_000_000); // prefetch 1: the broker keeps the rest
        JobRequest first = job("first", 20);
        publish(first);
        for (int i = 0; i < 3; i++) {
            publish(job("later " + i, 20));
        }
        awaitFor(progress, first.jobId());
        runtime.close();
        runtime = null;
        assertInstanceOf(JobResult.class, awaitFor(results, first.jobId()), "the job in hand finished");
        assertEquals(3, ch.queueDeclarePassive(Topology.jobsQueue(model)).getMessageCount(), "the others wait in the queue");
    }

    /** Waits (up to 5 s: meters move just after the broker confirmed) for a counter to reach {@code expected}. */
    private void awaitCount(String name, double expected, String... tags) throws InterruptedException {
        double seen = -1;
        for (int i = 0; i < 100; i++) {
            var c = registry.find(name).tags(tags).counter();
            seen = c == null ? 0 : c.count();
            if (seen == expected) {
                return;
            }
            Thread.sleep(50);
        }
        assertEquals(expected, seen, name + " " + java.util.Arrays.toString(tags));
    }

    private void cancel(UUID id) throws Exception {
        ch.basicPublish(Topology.CONTROL_EXCHANGE, "", null, MessageCodec.encode(new CancelJob(id, "test", Instant.now())));
    }

    private static Message awaitFor(BlockingQueue<Message> q, UUID jobId) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        List<Message> others = new ArrayList<>();
        try {
            while (System.nanoTime() < deadline) {
                Message m = q.poll(100, TimeUnit.MILLISECONDS);
                if (m == null) {
                    continue;
                }
                if (jobId.equals(jobIdOf(m))) {
                    return m;
                }
                others.add(m);
            }
        } finally {
            q.addAll(others);
        }
        throw new AssertionError("no message for job " + jobId);
    }

    private static UUID jobIdOf(Message m) {
        if (m instanceof JobResult r) {
            return r.jobId();
        } else if (m instanceof JobFailure f) {
            return f.jobId();
        } else if (m instanceof JobProgress p) {
            return p.jobId();
        }
        return null;
    }

    private List<GetResponse> drain(String queue, int n) throws Exception {
        List<GetResponse> out = new ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (out.size() < n && System.nanoTime() < deadline) {
            GetResponse r = ch.basicGet(queue, true);
            if (r == null) {
                Thread.sleep(50);
            } else {
                out.add(r);
            }
        }
        assertEquals(n, out.size(), "messages on " + queue);
        assertNotNull(out.get(0));
        return out;
    }

    private static Message decode(byte[] body) {
        try {
            return MessageCodec.decode(body);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

}
