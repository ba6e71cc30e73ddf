package org.diffusionbot.worker;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.common.config.RabbitSettings;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.worker.hub.HubException;
import org.diffusionbot.worker.hub.RepoId;

/**
 * Everything {@code worker run} reads from the environment, validated once at start-up.
 *
 * @param modelPath a diffusers folder or a single-file {@code .safetensors} checkpoint, or (when no such
 *                  path exists) a Hugging Face repository id that {@code RunCommand} downloads at start-up
 * @param modelName the name jobs use to reach this worker (routing key of its jobs queue)
 * @param device    {@code auto} (CUDA when available), {@code cpu} or {@code gpu}
 * @param batchSize jobs run together in one UNet batch, and the consumer prefetch
 * @param healthFile touched at every heartbeat for container health checks, or null
 * @param jobTimeout a batch running longer than this is taken as hung: the worker drops its broker
 *                   connection (the jobs go back to the queue) and exits for its supervisor to restart it
 * @param metricsPort the port of the Prometheus {@code /metrics} endpoint, 0 for none
 * @param safetyChecker the image safety checker ({@code SAFETY_CHECKER_PATH}: a {@code .safetensors} file or a
 *                      diffusers {@code safety_checker/} folder), or null for none
 */
public record WorkerConfig(
        Path modelPath,
        String modelName,
        String workerId,
        String device,
        int batchSize,
        int heartbeatSeconds,
        Path healthFile,
        java.time.Duration jobTimeout,
        RabbitSettings rabbit,
        int metricsPort,
        Path safetyChecker) {

    /** Without a metrics endpoint or a safety checker. */
    public WorkerConfig(Path modelPath, String modelName, String workerId, String device, int batchSize,
            int heartbeatSeconds, Path healthFile, java.time.Duration jobTimeout, RabbitSettings rabbit) {
        this(modelPath, modelName, workerId, device, batchSize, heartbeatSeconds, healthFile, jobTimeout, rabbit, 0);
    }

    /** Without a safety checker. */
    public WorkerConfig(Path modelPath, String modelName, String workerId, String device, int batchSize,
            int heartbeatSeconds, Path healthFile, java.time.Duration jobTimeout, RabbitSettings rabbit, int metricsPort) {
        this(modelPath, modelName, workerId, device, batchSize, heartbeatSeconds, healthFile, jobTimeout, rabbit,
                metricsPort, null);
    }

    public static WorkerConfig fromEnv(Env env) {
        String setting = env.required("MODEL_PATH", "point it at a Stable Diffusion checkpoint: a diffusers folder, "
                + "a .safetensors file or a Hugging Face repository id (owner/name[@revision])");
        Path model = Path.of(setting);
        String defaultName;
        if (Files.exists(model)) {
            defaultName = defaultModelName(model);
        } else if (RepoId.looksLike(setting)) {
            try {
                defaultName = defaultModelName(Path.of(RepoId.parse(setting).name()));
            } catch (HubException e) {
                throw new ConfigException("MODEL_PATH: " + e.getMessage());
            }
        } else {
            throw new ConfigException("MODEL_PATH points at " + model.toAbsolutePath() + ", which does not exist "
                    + "(and is not a Hugging Face repository id such as owner/name)");
        }
        String name = env.string("MODEL_NAME", defaultName);
        try {
            Topology.checkModelName(name);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("MODEL_NAME: " + e.getMessage());
        }
        Path checker = env.raw("SAFETY_CHECKER_PATH") == null ? null : Path.of(env.raw("SAFETY_CHECKER_PATH"));
        if (checker != null && !Files.exists(checker)) {
            throw new ConfigException("SAFETY_CHECKER_PATH points at " + checker.toAbsolutePath() + ", which does not "
                    + "exist (a .safetensors file, or a folder with model.safetensors and config.json)");
        }
        return new WorkerConfig(model, name,
                env.string("WORKER_ID", defaultWorkerId()),
                env.choice("DEVICE", "auto", "auto", "cpu", "gpu"),
                env.integer("BATCH_SIZE", 4, 1, 64),
                env.integer("HEARTBEAT_SECONDS", 5, 1, 300),
                env.raw("HEALTH_FILE") == null ? null : Path.of(env.raw("HEALTH_FILE")),
                env.seconds("JOB_TIMEOUT_SECONDS", java.time.Duration.ofMinutes(15), java.time.Duration.ofSeconds(1),
                        java.time.Duration.ofDays(1)),
                RabbitSettings.fromEnv(env),
                env.integer("METRICS_PORT", 0, 0, 65535),
                checker);
    }

    /** The file or folder name without extension, reduced to the characters a routing key allows. */
    static String defaultModelName(Path model) {
        String file = model.toAbsolutePath().normalize().getFileName().toString();
        String base = file.replaceFirst("\\.safetensors$", "").replaceAll("[^A-Za-z0-9._-]", "-")
                .replaceFirst("^[^A-Za-z0-9]+", "");
        return base.isEmpty() ? "model" : base.substring(0, Math.min(100, base.length()));
    }

    static String defaultWorkerId() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            host = "worker";
        }
        return host + "-" + ManagementFactory.getRuntimeMXBean().getPid();
    }
}
