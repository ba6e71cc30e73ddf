package org.diffusionbot.worker.runtime;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The models one worker serves, and which of them are loaded ("resident") within a memory budget.
 * {@link #acquire} returns a model's generator, loading it first when it is not resident: the least
 * recently used resident models are unloaded (closed) until the new one fits, so a load never takes
 * more than the budget (as big a promise as the sizes are true: the worker passes conservative
 * estimates, replaced by the measured size once a model is loaded). A model bigger than the whole
 * budget is refused when the pool is made. Used by the runner thread; the listings are safe to read
 * from any thread (heartbeats).
 */
public final class ModelPool implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ModelPool.class);

    /** Loads one model; its generator is closed when the model is unloaded. */
    @FunctionalInterface
    public interface Loader {
        Loaded load(String name) throws Exception;
    }

    /**
     * A loaded model.
     *
     * @param bytes what it takes, measured (e.g. the CUDA allocator's growth), or the estimate when unknown
     */
    public record Loaded(ImageGenerator generator, long bytes) {
    }

    /** Called before a load starts, with the model's name and how long its last load took (null: never loaded). */
    @FunctionalInterface
    public interface LoadListener {
        void loading(String name, Duration lastLoad);
    }

    private final Map<String, Long> sizes = new LinkedHashMap<>();
    private final long budget;
    private final Loader loader;
    private final WorkerMetrics metrics;
    private final String device;
    /** Resident models, least recently used first (access order). */
    private final LinkedHashMap<String, ImageGenerator> resident = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<String, Duration> lastLoad = new LinkedHashMap<>();
    private final Map<String, WorkerHeartbeat.ModelInfo> described;
    private final List<WorkerHeartbeat.ModelDefaults> defaults;

    /**
     * @param sizes  every model served, name → expected bytes once loaded, in the order they are listed
     * @param budget bytes all resident models may take together
     * @param device what heartbeats show (e.g. {@code cuda:0})
     * @throws IllegalArgumentException when a model alone is bigger than the budget
     */
    public ModelPool(Map<String, Long> sizes, long budget, String device, Loader loader, WorkerMetrics metrics) {
        this(sizes, budget, device, loader, metrics, List.of());
    }

    /**
     * As above, with the models' recommended settings ({@link ModelSidecar}), which heartbeats announce.
     *
     * @param defaults at most one per served model
     */
    public ModelPool(Map<String, Long> sizes, long budget, String device, Loader loader, WorkerMetrics metrics,
            List<WorkerHeartbeat.ModelDefaults> defaults) {
        this(sizes, budget, device, loader, metrics, defaults, Map.of());
    }

    /**
     * As above, with what each model is before it is loaded.
     *
     * @param described family and native size per model, read from the checkpoint's header or configs without loading
     *                  it ({@code ModelLoader.check}), for heartbeats ({@link #modelInfo()}); a model left out is
     *                  described only while it is loaded
     */
    public ModelPool(Map<String, Long> sizes, long budget, String device, Loader loader, WorkerMetrics metrics,
            List<WorkerHeartbeat.ModelDefaults> defaults, Map<String, WorkerHeartbeat.ModelInfo> described) {
        this.defaults = List.copyOf(defaults);
        this.described = Map.copyOf(described);
        for (WorkerHeartbeat.ModelDefaults d : this.defaults) {
            if (!sizes.containsKey(d.model())) {
                throw new IllegalArgumentException("defaults for " + d.model() + ", which is not served");
            }
        }
        if (sizes.isEmpty()) {
            throw new IllegalArgumentException("no model to serve");
        }
        sizes.forEach((name, bytes) -> {
            if (bytes > budget) {
                throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                        "model %s needs about %.1f GiB, more than the memory budget of %.1f GiB", name,
                        bytes / (double) (1L << 30), budget / (double) (1L << 30)));
            }
        });
        this.sizes.putAll(sizes);
        this.budget = budget;
        this.device = device;
        this.loader = loader;
        this.metrics = metrics;
        sizes.keySet().forEach(n -> metrics.resident(n, () -> isResident(n)));
    }

    /** One model, already loaded and never unloaded (a single-model worker, tests). */
    public static ModelPool of(String name, ImageGenerator generator, WorkerMetrics metrics) {
        return of(name, generator, metrics, null);
    }

    /** One model, already loaded and never unloaded, with its recommended settings (null: none). */
    public static ModelPool of(String name, ImageGenerator generator, WorkerMetrics metrics,
            WorkerHeartbeat.ModelDefaults defaults) {
        ModelPool pool = new ModelPool(Map.of(name, 0L), 0, generator.device(), n -> {
            throw new IllegalStateException("the only model is always loaded");
        }, metrics, defaults == null ? List.of() : List.of(defaults));
        pool.resident.put(name, generator);
        return pool;
    }

    public String device() {
        return device;
    }

    /** The served models' recommended settings (those that have a sidecar file). */
    public List<WorkerHeartbeat.ModelDefaults> defaults() {
        return defaults;
    }

    /** Every model served, in the order given. */
    public List<String> names() {
        return List.copyOf(sizes.keySet());
    }

    /** The loaded models, most recently used first. */
    public synchronized List<String> resident() {
        List<String> r = new ArrayList<>(resident.keySet());
        java.util.Collections.reverse(r);
        return r;
    }

    public synchronized boolean isResident(String name) {
        return resident.containsKey(name);
    }

    /** The generator of a resident model without changing its recency, or null. */
    public synchronized ImageGenerator peek(String name) {
        return resident.entrySet().stream().filter(e -> e.getKey().equals(name)).map(Map.Entry::getValue)
                .findFirst().orElse(null);
    }

    /**
     * What heartbeats say of the models served, in the order given: a loaded model as its generator describes itself
     * ({@link ImageGenerator#modelInfo}), one not loaded as it was described when the pool was made; a model with
     * neither is left out (the bot then takes it for SD 1.x at 512×512).
     */
    public synchronized List<WorkerHeartbeat.ModelInfo> modelInfo() {
        List<WorkerHeartbeat.ModelInfo> out = new ArrayList<>();
        for (String name : sizes.keySet()) {
            ImageGenerator g = peek(name);
            WorkerHeartbeat.ModelInfo info = g != null ? g.modelInfo(name) : described.get(name);
            if (info != null) {
                out.add(info);
            }
        }
        return out;
    }

    /**
     * The model's generator, now the most recently used; loads it when it is not resident, after
     * unloading least recently used models until it fits the budget.
     *
     * @param onLoad told before a load starts (to tell the jobs waiting for it)
     * @throws IllegalArgumentException for a model this pool does not serve
     * @throws Exception what the loader threw (nothing is resident for the model then)
     */
    public ImageGenerator acquire(String name, LoadListener onLoad) throws Exception {
        synchronized (this) {
            ImageGenerator g = resident.get(name);
            if (g != null) {
                return g;
            }
            if (!sizes.containsKey(name)) {
                throw new IllegalArgumentException("this worker does not serve model '" + name + "'");
            }
            long need = sizes.get(name);
            while (!resident.isEmpty() && used() + need > budget) {
                var lru = resident.entrySet().iterator().next();
                resident.remove(lru.getKey());
                LOG.info("unloading model {} (least recently used) to make room for {}", lru.getKey(), name);
                lru.getValue().close();
                metrics.modelEviction(lru.getKey());
            }
        }
        onLoad.loading(name, lastLoad.get(name));
        long t0 = System.nanoTime();
        Loaded loaded = loader.load(name); // outside the lock: heartbeats keep reading the listings
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        synchronized (this) {
            lastLoad.put(name, took);
            if (loaded.bytes() > 0) {
                sizes.put(name, loaded.bytes());
            }
            resident.put(name, loaded.generator());
        }
        metrics.modelLoad(name, took);
        LOG.info("model {} loaded in {} ms; resident: {}", name, took.toMillis(), resident());
        return loaded.generator();
    }

    private long used() {
        return resident.keySet().stream().mapToLong(sizes::get).sum();
    }

    @Override
    public synchronized void close() {
        resident.values().forEach(ImageGenerator::close);
        resident.clear();
    }
}
