package org.diffusionbot.worker;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.worker.engine.ComputeDevice;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig;
import org.diffusionbot.worker.hub.HubException;
import org.diffusionbot.worker.hub.HubModelFetcher;
import org.diffusionbot.worker.hub.RepoId;
import org.diffusionbot.worker.runtime.DiffusionGenerator;
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
        ComputeDevice compute;
        SchedulerConfig.PredictionType prediction;
        try {
            compute = ComputeDevice.select(config.device());
            String p = env.string("PREDICTION_TYPE", "auto");
            prediction = p.equals("auto") ? null : SchedulerConfig.PredictionType.parse(p);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage().startsWith("device") ? "DEVICE: " + e.getMessage()
                    : "PREDICTION_TYPE must be auto, epsilon or v_prediction (" + e.getMessage() + ")");
        }
        Path modelPath = config.modelPath();
        if (!Files.exists(modelPath)) {
            try {
                RepoId repo = RepoId.parse(modelPath.toString());
                LOG.info("MODEL_PATH {} is a Hugging Face repository: fetching it", repo);
                modelPath = HubModelFetcher.fromEnv(env).fetch(repo);
            } catch (HubException e) {
                System.err.println("worker: " + e.getMessage());
                return 2;
            } catch (java.io.IOException e) {
                System.err.println("worker: cannot download " + modelPath + ": " + e);
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
            System.err.println("worker: " + e.getMessage());
            return 2;
        }
        LOG.info(String.format(Locale.ROOT, "loaded %s in %.1f s", pipeline.description(), (System.nanoTime() - t0) / 1e9));
        DiffusionGenerator generator = new DiffusionGenerator(pipeline);
        WorkerRuntime runtime = new WorkerRuntime(config, generator, Clock.systemUTC());
        try {
            runtime.start();
        } catch (java.io.IOException | java.util.concurrent.TimeoutException e) {
            generator.close();
            System.err.println("worker: cannot connect to RabbitMQ (" + config.rabbit() + "): " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("stopping: finishing the batch in hand");
            runtime.close();
            generator.close();
            stopped.countDown();
        }, "worker-shutdown"));
        stopped.await();
        return 0;
    }
}
