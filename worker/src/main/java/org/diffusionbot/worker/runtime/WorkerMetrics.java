package org.diffusionbot.worker.runtime;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import org.diffusionbot.common.messages.JobFailure;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

/**
 * A worker's meters. Prometheus names (labels) as scraped from {@code METRICS_PORT}:
 *
 * <ul>
 *   <li>{@code diffusionbot_worker_steps_total{model}}: denoising steps run (one per step of a batch,
 *       whatever its size); {@code rate()} is the worker's steps/s</li>
 *   <li>{@code diffusionbot_worker_images_total{model}}: images made; {@code rate()} is images/s</li>
 *   <li>{@code diffusionbot_worker_steps_per_second{model}}: steps/s of the last batch</li>
 *   <li>{@code diffusionbot_worker_batch_size{model}} (summary: count, sum, max): jobs per batch</li>
 *   <li>{@code diffusionbot_worker_batch_duration_seconds{model}} (histogram): a batch from its first
 *       step to its last image</li>
 *   <li>{@code diffusionbot_worker_jobs_total{model,outcome}}: jobs ended here, {@code outcome} one of
 *       {@code succeeded failed cancelled requeued}</li>
 *   <li>{@code diffusionbot_worker_failures_total{kind}}: each failure by kind: a {@code JobFailure} code
 *       in lower case, {@code generator_error} (the batch went back to the queue), {@code unconfirmed}
 *       (the broker did not confirm a result), {@code malformed} (a message that could not be read),
 *       {@code hung} (the watchdog fired)</li>
 *   <li>{@code diffusionbot_worker_model_loads_total{model}}, {@code diffusionbot_worker_model_load_seconds{model}}</li>
 *   <li>{@code diffusionbot_worker_model_resident{model}} (1 loaded, 0 not),
 *       {@code diffusionbot_worker_model_evictions_total{model}} (unloaded to make room for another)</li>
 *   <li>{@code diffusionbot_worker_lora_switches_total{model}} (a batch changed the model's LoRA set)</li>
 *   <li>{@code diffusionbot_worker_jobs_in_hand}: jobs of the running batch (0 when idle)</li>
 *   <li>{@code diffusionbot_worker_gpu_memory_allocated_bytes}, {@code diffusionbot_worker_gpu_memory_reserved_bytes}:
 *       PyTorch's CUDA caching allocator, as {@code torch.cuda.memory_allocated()} / {@code memory_reserved()}
 *       (only on a GPU with the native library, which reads them)</li>
 * </ul>
 */
public final class WorkerMetrics {
    private final MeterRegistry registry;
    private final java.util.Map<String, AtomicLong> stepsPerSecond = new java.util.concurrent.ConcurrentHashMap<>();

    public WorkerMetrics(MeterRegistry registry) {
        this.registry = registry;
        // every kind from the start, at 0: rate() and alerts see them before the first failure
        List.of("generator_error", "unconfirmed", "malformed", "hung", "model_load").forEach(this::failureCounter);
        for (JobFailure.Code c : JobFailure.Code.values()) {
            failureCounter(c.name());
        }
    }

    /** Each model's job counters at 0 from the start. */
    void models(List<String> models) {
        for (String m : models) {
            for (String outcome : List.of("succeeded", "failed", "cancelled", "requeued")) {
                jobCounter(m, outcome);
            }
        }
    }

    public MeterRegistry registry() {
        return registry;
    }

    /** The running batch's job count, read at every scrape. */
    void jobsInHand(IntSupplier jobs) {
        Gauge.builder("diffusionbot.worker.jobs.in.hand", jobs::getAsInt).description("jobs of the running batch")
                .register(registry);
    }

    /** A batch of {@code jobs} jobs that ran {@code steps} steps in {@code took}. */
    void batch(String model, int jobs, int steps, Duration took) {
        Counter.builder("diffusionbot.worker.steps").description("denoising steps run").tag("model", model)
                .register(registry).increment(steps);
        DistributionSummary.builder("diffusionbot.worker.batch.size").description("jobs per batch").tag("model", model)
                .register(registry).record(jobs);
        Timer.builder("diffusionbot.worker.batch.duration").description("run time of a batch").tag("model", model)
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(100))
                .maximumExpectedValue(Duration.ofMinutes(15)).register(registry).record(took);
        AtomicLong milli = stepsPerSecond.computeIfAbsent(model, m -> {
            AtomicLong v = new AtomicLong();
            Gauge.builder("diffusionbot.worker.steps.per.second", v, x -> x.get() / 1000.0)
                    .description("steps per second of the last batch").tag("model", model).register(registry);
            return v;
        });
        milli.set(Math.round(steps * 1_000_000.0 / Math.max(1, took.toMillis())));
    }

    void images(String model, int count) {
        Counter.builder("diffusionbot.worker.images").description("images made").tag("model", model)
                .register(registry).increment(count);
    }

    /** A job that ended here: {@code succeeded}, {@code failed}, {@code cancelled} or {@code requeued}. */
    void job(String model, String outcome) {
        jobCounter(model, outcome).increment();
    }

    private Counter jobCounter(String model, String outcome) {
        return Counter.builder("diffusionbot.worker.jobs").description("jobs ended by this worker").tag("model", model)
                .tag("outcome", outcome).register(registry);
    }

    /** A failure of the given kind (a JobFailure code, generator_error, unconfirmed, malformed, hung). */
    void failure(String kind) {
        failureCounter(kind).increment();
    }

    private Counter failureCounter(String kind) {
        return Counter.builder("diffusionbot.worker.failures").description("failures by kind")
                .tag("kind", kind.toLowerCase(Locale.ROOT)).register(registry);
    }

    /** A model loaded in {@code took}. */
    public void modelLoad(String model, Duration took) {
        Counter.builder("diffusionbot.worker.model.loads").description("checkpoints loaded").tag("model", model)
                .register(registry).increment();
        Timer.builder("diffusionbot.worker.model.load").description("time to load a checkpoint").tag("model", model)
                .register(registry).record(took);
    }

    /** {@code diffusionbot_worker_model_resident{model}}: 1 while the model is loaded, else 0. */
    void resident(String model, java.util.function.BooleanSupplier loaded) {
        Gauge.builder("diffusionbot.worker.model.resident", () -> loaded.getAsBoolean() ? 1 : 0)
                .description("1 while the model is loaded").tag("model", model).register(registry);
    }

    /** {@code diffusionbot_worker_lora_switches_total{model}}: {@code n} changes of the model's LoRA set by one batch. */
    public void loraSwitches(String model, long n) {
        Counter c = Counter.builder("diffusionbot.worker.lora.switches").description("LoRA sets switched on the model")
                .tag("model", model).register(registry);
        if (n > 0) {
            c.increment(n);
        }
    }

    /** {@code diffusionbot_worker_model_evictions_total{model}}: a model unloaded to make room for another. */
    void modelEviction(String model) {
        Counter.builder("diffusionbot.worker.model.evictions").description("models unloaded to make room")
                .tag("model", model).register(registry).increment();
    }

    /**
     * GPU memory gauges read from {@code stats} at each scrape: {allocated, peak allocated, reserved,
     * peak reserved} bytes of PyTorch's CUDA allocator (as {@code NativeOps.cudaMemory()} returns), or null
     * when unknown (the gauges then read NaN, which Prometheus shows as no value).
     */
    public void gpuMemory(Supplier<long[]> stats) {
        Gauge.builder("diffusionbot.worker.gpu.memory.allocated", stats, s -> at(s.get(), 0)).baseUnit("bytes")
                .description("bytes allocated by PyTorch's CUDA allocator").register(registry);
        Gauge.builder("diffusionbot.worker.gpu.memory.reserved", stats, s -> at(s.get(), 2)).baseUnit("bytes")
                .description("bytes reserved (cached) by PyTorch's CUDA allocator").register(registry);
    }

    private static double at(long[] v, int i) {
        return v == null ? Double.NaN : v[i];
    }
}
