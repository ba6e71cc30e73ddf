package org.diffusionbot.worker;

import java.nio.file.Files;
import java.nio.file.Path;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.common.metrics.Metrics;
import org.diffusionbot.worker.engine.ComputeDevice;
import org.diffusionbot.worker.engine.cuda.GpuSetup;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig;
import org.diffusionbot.worker.hub.HubException;
import org.diffusionbot.worker.hub.HubModelFetcher;
import org.diffusionbot.worker.hub.RepoId;
import ai.djl.ndarray.NDManager;
import org.diffusionbot.worker.engine.models.SafetyChecker;
import org.diffusionbot.worker.runtime.DiffusionGenerator;
import org.diffusionbot.worker.runtime.ImageGenerator;
import org.diffusionbot.worker.runtime.JobOutcome;
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
        GpuSetup setup = logSetup(config.device());
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
        Path modelPath = config.modelPath();
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
        long t0 = System.nanoTime();
        LOG.info("loading {} on {}", modelPath, compute);
        StableDiffusionPipeline pipeline;
        try {
            pipeline = ModelLoader.load(modelPath, compute.dtype(), compute.device(),
                    new ModelLoader.Options(prediction, null));
        } catch (ModelFormatException e) {
            System.err.println("worker: MODEL_PATH: " + e.getMessage());
            return 2;
        }
        Duration loadTime = Duration.ofNanos(System.nanoTime() - t0);
        LOG.info(String.format(Locale.ROOT, "loaded %s in %.1f s", pipeline.description(), loadTime.toMillis() / 1e3));
        metrics.modelLoad(config.modelName(), loadTime);
        if (NativeOps.cudaMemory() != null) {
            metrics.gpuMemory(NativeOps::cudaMemory);
        }
        ImageGenerator generator;
        try {
            generator = withSafetyCheck(new DiffusionGenerator(pipeline), config, compute);
        } catch (ModelFormatException e) {
            System.err.println("worker: SAFETY_CHECKER_PATH: " + e.getMessage());
            return 2;
        }
        WorkerRuntime runtime = new WorkerRuntime(config, generator, Clock.systemUTC(), metrics);
        try {
            runtime.start();
        } catch (java.io.IOException | java.util.concurrent.TimeoutException e) {
            generator.close();
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
            generator.close();
            stopped.countDown();
        }, "worker-shutdown"));
        stopped.await();
        return 0;
    }

    /**
     * The generator with the image safety check of {@code SAFETY_CHECKER_PATH} (loaded on the model's
     * device, in its dtype) in front, or as it is when none is configured.
     *
     * @throws ModelFormatException when the checker cannot be loaded (the generator is closed then)
     */
    static ImageGenerator withSafetyCheck(ImageGenerator generator, WorkerConfig config, ComputeDevice compute) {
        if (config.safetyChecker() == null) {
            return generator;
        }
        NDManager weights = NDManager.newBaseManager(compute.device());
        try {
            SafetyChecker checker = SafetyChecker.load(config.safetyChecker(), weights, compute.dtype(), compute.device());
            LOG.info("images of jobs from channels that are not age-restricted pass the safety checker {} ({})",
                    config.safetyChecker(), checker.config());
            return new SafetyCheckingGenerator(generator, (w, h, rgb) -> checker.check(weights, w, h, rgb).stream()
                    .map(v -> new JobOutcome.Safety(v.nsfw(), v.score())).toList(),
                    SafetyCheckingGenerator::needsCheck, weights);
        } catch (RuntimeException e) {
            weights.close();
            generator.close();
            throw e;
        }
    }

    /**
     * Logs what {@code worker.jar doctor} reports about this machine, and warns loudly when a GPU is there but the
     * worker will not use it with the fast path (unless {@code DEVICE=cpu} asked for the CPU); returns the report.
     */
    private static GpuSetup logSetup(String device) {
        GpuSetup setup = GpuSetup.probe();
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
