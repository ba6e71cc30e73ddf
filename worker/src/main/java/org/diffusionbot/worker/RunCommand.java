package org.diffusionbot.worker;

import java.nio.file.Files;
import java.nio.file.Path;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.concurrent.CountDownLatch;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.metrics.Metrics;
import org.diffusionbot.worker.engine.ComputeDevice;
import org.diffusionbot.worker.engine.cuda.GpuSetup;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.PipelineOptions;
import org.diffusionbot.worker.engine.loaders.VaeFile;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig;
import org.diffusionbot.worker.hub.HubException;
import org.diffusionbot.worker.hub.HubModelFetcher;
import org.diffusionbot.worker.hub.RepoId;
import ai.djl.ndarray.NDManager;
import org.diffusionbot.worker.engine.models.SafetyChecker;
import org.diffusionbot.worker.engine.lora.AddonCatalog;
import org.diffusionbot.worker.engine.lora.ModelFolder;
import org.diffusionbot.worker.runtime.DiffusionGenerator;
import org.diffusionbot.worker.runtime.ImageGenerator;
import org.diffusionbot.worker.runtime.JobOutcome;
import org.diffusionbot.worker.runtime.ModelPool;
import org.diffusionbot.worker.runtime.ModelSidecar;
import org.diffusionbot.worker.runtime.SafetyCheckingGenerator;
import org.diffusionbot.worker.runtime.WorkerMetrics;
import org.diffusionbot.worker.runtime.WorkerRuntime;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code worker.jar run}: loads the model named by {@code MODEL_PATH} on the configured device and
 * consumes its job queue until SIGTERM, which finishes the batch in hand and returns unstarted jobs.
 */
final class RunCommand {
    private static final Logger LOG = LoggerFactory.getLogger(RunCommand.class);

    private RunCommand() {
    }

    static int run(Env env) throws InterruptedException {
        WorkerConfig config = WorkerConfig.fromEnv(env);
        String p = env.choice("PREDICTION_TYPE", "auto", "auto", "epsilon", "v_prediction");
        SchedulerConfig.PredictionType prediction = p.equals("auto") ? null : SchedulerConfig.PredictionType.parse(p);
        String vae = env.raw("VAE_PATH");
        // the SD_* pipeline settings, read once: every model is loaded with them, and the report says them
        PipelineOptions pipelineOptions = PipelineOptions.fromSettings();
        ModelLoader.Options loadOptions = new ModelLoader.Options(prediction, null,
                vae == null || vae.isBlank() ? null : Path.of(vae.strip()), pipelineOptions);
        GpuSetup setup = logSetup(config.device(), pipelineOptions);
        if (setup.engineError() != null) {
            throw new ConfigException(setup.advice());
        }
        ComputeDevice compute;
        try {
            compute = ComputeDevice.select(config.device());
        } catch (IllegalArgumentException e) {
            throw new ConfigException("DEVICE=" + config.device() + ": " + e.getMessage());
        }
        PrometheusMeterRegistry registry = Metrics.registry();
        WorkerMetrics metrics = new WorkerMetrics(registry);
        HttpServer metricsServer = null;
        if (config.metricsPort() != 0) { // before the model loads: a port in use fails at once
            try {
                metricsServer = Metrics.serve(registry, "0.0.0.0", config.metricsPort());
            } catch (java.io.IOException e) {
                throw new ConfigException("METRICS_PORT: cannot listen on port " + config.metricsPort() + " ("
                        + e.getMessage() + "): choose a free port, or 0 for no metrics endpoint");
            }
            LOG.info("Prometheus metrics on http://0.0.0.0:{}/metrics", config.metricsPort());
        }
        Map<String, Path> paths = new LinkedHashMap<>();
        for (Map.Entry<String, Path> m : config.models().entrySet()) {
            Path modelPath = m.getValue();
            if (!Files.exists(modelPath)) {
                try {
                    RepoId repo = RepoId.parse(modelPath.toString());
                    LOG.info("MODEL_PATH {} is a Hugging Face repository: fetching it", repo);
                    modelPath = HubModelFetcher.fromEnv(env).fetch(repo);
                } catch (HubException e) {
                    System.err.println("worker: MODEL_PATH: " + e.getMessage());
                    return 2;
                } catch (java.io.IOException e) {
                    System.err.println("worker: MODEL_PATH: cannot download " + modelPath + ": " + e);
                    return 1;
                }
            }
            paths.put(m.getKey(), modelPath);
        }
        String modelSetting = ServedModels.setting(env); // what errors about a model or its sidecar blame
        List<org.diffusionbot.common.messages.WorkerHeartbeat.ModelDefaults> defaults = new ArrayList<>();
        for (Map.Entry<String, Path> m : paths.entrySet()) {
            try {
                ModelSidecar.read(m.getKey(), m.getValue()).ifPresent(d -> {
                    LOG.info("model {}: recommended settings from its sidecar file: {}", m.getKey(), d);
                    defaults.add(d);
                });
            } catch (IllegalArgumentException e) {
                System.err.println("worker: " + modelSetting + ": " + e.getMessage());
                return 2;
            }
        }
        if (loadOptions.vae() != null) {
            try {
                VaeFile.check(loadOptions.vae());
            } catch (ModelFormatException e) {
                System.err.println("worker: VAE_PATH: " + e.getMessage());
                return 2;
            }
        }
        Map<String, WorkerHeartbeat.ModelInfo> described = new LinkedHashMap<>(); // heartbeats describe unloaded ones
        for (Map.Entry<String, Path> m : paths.entrySet()) { // before anything is announced: every model can run jobs
            try {
                ModelLoader.Checked checked = ModelLoader.check(m.getValue(), loadOptions);
                LOG.info("model {}: {}", m.getKey(), checked);
                described.put(m.getKey(), new WorkerHeartbeat.ModelInfo(m.getKey(), checked.family().id(),
                        checked.nativeSize(), checked.nativeSize()));
            } catch (ModelFormatException e) {
                System.err.println("worker: " + modelSetting + ": " + e.getMessage());
                return 2;
            }
        }
        if (NativeOps.cudaMemory() != null) {
            metrics.gpuMemory(NativeOps::cudaMemory);
        }
        UnaryOperator<ImageGenerator> safety;
        List<AutoCloseable> closeAtExit = new ArrayList<>();
        try {
            safety = safetyCheck(config, compute, closeAtExit);
        } catch (ModelFormatException e) {
            System.err.println("worker: SAFETY_CHECKER_PATH: " + e.getMessage());
            return 2;
        }
        Map<String, Long> sizes = new LinkedHashMap<>();
        paths.forEach((name, path) -> sizes.put(name, ServedModels.estimatedBytes(path)));
        long budget = config.modelMemoryBytes() > 0 ? config.modelMemoryBytes() : defaultBudget(compute);
        ModelPool pool;
        try {
            pool = new ModelPool(sizes, budget, DiffusionGenerator.deviceName(compute.device()),
                    name -> load(name, paths.get(name), compute, loadOptions, sizes.get(name), safety,
                            config.loraDir(), config.embeddingsDir()), metrics, defaults, described);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("MODEL_MEMORY_GB: " + e.getMessage() + " (set MODEL_MEMORY_GB higher, or serve "
                    + "fewer or smaller models)");
        }
        closeAtExit.add(0, pool);
        try { // the first model now: a broken checkpoint stops the worker at once
            pool.acquire(config.modelName(), (name, last) -> { });
        } catch (ModelFormatException e) {
            System.err.println("worker: " + modelSetting + ": " + e.getMessage());
            return 2;
        } catch (Exception e) {
            System.err.println("worker: " + modelSetting + ": cannot load " + paths.get(config.modelName()) + ": " + e);
            return 1;
        }
        WorkerRuntime runtime = new WorkerRuntime(config, pool, Clock.systemUTC(), metrics);
        AddonCatalog catalog = new AddonCatalog(
                config.loraDir() == null ? null : new ModelFolder(config.loraDir(), "LoRA"),
                config.embeddingsDir() == null ? null : new ModelFolder(config.embeddingsDir(), "embedding"));
        LOG.info(addonsLine("LoRAs", "LORA_DIR", "loras", config.loraDir(), catalog.loras()));
        LOG.info(addonsLine("embeddings", "EMBEDDINGS_DIR", "embeddings", config.embeddingsDir(), catalog.embeddings()));
        if (config.embeddingsDir() != null || config.loraDir() != null) {
            runtime.announce(catalog::loras, catalog::embeddings);
        }
        try {
            runtime.start();
        } catch (java.io.IOException | java.util.concurrent.TimeoutException e) {
            closeAll(closeAtExit);
            System.err.println("worker: RABBITMQ_URL: cannot connect to RabbitMQ (" + config.rabbit() + "): " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        HttpServer served = metricsServer;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("stopping: finishing the batch in hand");
            runtime.close();
            if (served != null) {
                served.stop(0);
            }
            closeAll(closeAtExit);
            stopped.countDown();
        }, "worker-shutdown"));
        stopped.await();
        return 0;
    }

    /** Loads one checkpoint; its size is what the CUDA allocator grew by, where that can be read. */
    private static ModelPool.Loaded load(String name, Path path, ComputeDevice compute,
            ModelLoader.Options options, long estimate, UnaryOperator<ImageGenerator> wrap, Path loraDir,
            Path embeddingsDir) {
        long[] before = NativeOps.cudaMemory();
        long t0 = System.nanoTime();
        LOG.info("loading model {} from {} on {}", name, path, compute);
        StableDiffusionPipeline pipeline = ModelLoader.load(path, compute.dtype(), compute.device(), options);
        if (loraDir != null || embeddingsDir != null) { // embeddings that do not fit the model are logged, left out
            pipeline.useAddons(loraDir, embeddingsDir, w -> LOG.warn("model {}: {}", name, w));
        }
        long[] after = NativeOps.cudaMemory();
        LOG.info(String.format(Locale.ROOT, "loaded %s in %.1f s", pipeline.description(), (System.nanoTime() - t0) / 1e9));
        long measured = before != null && after != null ? after[0] - before[0] : 0;
        return new ModelPool.Loaded(wrap.apply(new DiffusionGenerator(pipeline)), measured > 0 ? measured : estimate);
    }

    /**
     * Without MODEL_MEMORY_GB: on a GPU, its memory less {@link #GPU_HEADROOM} for the activations of a
     * batch; on the CPU, no limit.
     */
    private static long defaultBudget(ComputeDevice compute) {
        if (!compute.device().isGpu()) {
            return Long.MAX_VALUE;
        }
        long total = ai.djl.util.cuda.CudaUtils.getGpuMemory(compute.device()).getMax();
        return Math.max(1L << 30, total - GPU_HEADROOM);
    }

    /** GPU memory left outside the models' budget by default: activations, CUDA graphs, the VAE decode. */
    static final long GPU_HEADROOM = 6L << 30;

    /**
     * What each loaded model's generator is wrapped in: the image safety check of {@code SAFETY_CHECKER_PATH}
     * (loaded once, on the models' device, in their dtype; its weights go into {@code closeAtExit}), or
     * nothing when none is configured.
     *
     * @throws ModelFormatException when the checker cannot be loaded
     */
    static UnaryOperator<ImageGenerator> safetyCheck(WorkerConfig config, ComputeDevice compute,
            List<AutoCloseable> closeAtExit) {
        if (config.safetyChecker() == null) {
            return g -> g;
        }
        NDManager weights = NDManager.newBaseManager(compute.device());
        try {
            SafetyChecker checker = SafetyChecker.load(config.safetyChecker(), weights, compute.dtype(), compute.device());
            LOG.info("images of jobs from channels that are not age-restricted pass the safety checker {} ({})",
                    config.safetyChecker(), checker.config());
            closeAtExit.add(weights);
            return g -> new SafetyCheckingGenerator(g, (w, h, rgb) -> checker.check(weights, w, h, rgb).stream()
                    .map(v -> new JobOutcome.Safety(v.nsfw(), v.score())).toList(),
                    SafetyCheckingGenerator::needsCheck, null);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    private static void closeAll(List<AutoCloseable> resources) {
        for (AutoCloseable r : resources) {
            try {
                r.close();
            } catch (Exception e) {
                LOG.warn("closing {} failed: {}", r, e.toString());
            }
        }
    }

    /**
     * The start-up line about one add-on folder, e.g. {@code LoRAs: 5 in /models/loras (LORA_DIR): sdxl 3, sd1 2}
     * or {@code embeddings: none (EMBEDDINGS_DIR unset, no MODELS_DIR/embeddings folder)}.
     *
     * @param what {@code LoRAs} or {@code embeddings}
     * @param setting the folder's setting
     * @param dflt the folder's default name under MODELS_DIR
     * @param dir the folder, or null for none
     * @param found what {@link AddonCatalog} found in it (files it cannot read are left out)
     */
    static String addonsLine(String what, String setting, String dflt, Path dir,
            List<WorkerHeartbeat.Addon> found) {
        if (dir == null) {
            return what + ": none (" + setting + " unset, no MODELS_DIR/" + dflt + " folder)";
        }
        Map<String, Integer> byFamily = new java.util.TreeMap<>();
        found.forEach(a -> byFamily.merge(a.family(), 1, Integer::sum));
        StringBuilder sb = new StringBuilder(what + ": " + found.size() + " in " + WorkerConfig.absolute(dir) + " ("
                + setting + ")");
        if (!byFamily.isEmpty()) {
            sb.append(": ");
            byFamily.entrySet().stream()
                    .sorted(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                    .forEach(e -> sb.append(e.getKey()).append(' ').append(e.getValue()).append(", "));
            sb.setLength(sb.length() - 2);
        }
        return sb.toString();
    }

    /**
     * Logs what {@code worker.jar doctor} reports about this machine, and warns loudly when a GPU is there but the
     * worker will not use it with the fast path (unless {@code DEVICE=cpu} asked for the CPU); returns the report.
     */
    private static GpuSetup logSetup(String device, PipelineOptions options) {
        GpuSetup setup = GpuSetup.probe(options.cudaGraphs(), options.vaeGraphs(), options.channelsLast());
        setup.lines().forEach(l -> LOG.info("setup: {}", l));
        String advice = setup.advice();
        boolean gpuThere = setup.gpuUsable() || setup.driverGpus() > 0;
        if (advice != null && gpuThere && !device.equals("cpu")) {
            String bar = "=".repeat(100);
            LOG.warn(bar);
            LOG.warn("A GPU is here but the worker will not run on it with the fast path (native ops, CUDA graphs):");
            LOG.warn(advice);
            LOG.warn("(`java -jar worker.jar doctor` checks the setup; docs/GPU.md)");
            LOG.warn(bar);
        }
        return setup;
    }
}
