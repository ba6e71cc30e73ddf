package org.diffusionbot.worker;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.common.config.RabbitSettings;

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
 * @param models    every model served, name → path ({@link ServedModels}); the first is {@code modelName} at
 *                  {@code modelPath}
 * @param modelMemoryBytes the budget for resident models ({@code MODEL_MEMORY_GB}), 0 for the device's default
 * @param embeddingsDir the textual-inversion embeddings' folder ({@code EMBEDDINGS_DIR}, default {@code
 *                  MODELS_DIR/embeddings} when that exists), or null for none
 * @param loraDir   the LoRA folder ({@code LORA_DIR}, default {@code MODELS_DIR/loras} when that exists), or null
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
        Path safetyChecker,
        Map<String, Path> models,
        long modelMemoryBytes,
        Path embeddingsDir,
        Path loraDir) {

    public WorkerConfig {
        models = models == null || models.isEmpty() ? Map.of(modelName, modelPath)
                : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(models));
    }

    /** Without an embeddings folder. */
    public WorkerConfig(Path modelPath, String modelName, String workerId, String device, int batchSize,
            int heartbeatSeconds, Path healthFile, java.time.Duration jobTimeout, RabbitSettings rabbit, int metricsPort,
            Path safetyChecker, Map<String, Path> models, long modelMemoryBytes) {
        this(modelPath, modelName, workerId, device, batchSize, heartbeatSeconds, healthFile, jobTimeout, rabbit,
                metricsPort, safetyChecker, models, modelMemoryBytes, null, null);
    }

    /** Without a metrics endpoint or a safety checker. */
    public WorkerConfig(Path modelPath, String modelName, String workerId, String device, int batchSize,
            int heartbeatSeconds, Path healthFile, java.time.Duration jobTimeout, RabbitSettings rabbit) {
        this(modelPath, modelName, workerId, device, batchSize, heartbeatSeconds, healthFile, jobTimeout, rabbit, 0);
    }

    /** Without a safety checker. */
    public WorkerConfig(Path modelPath, String modelName, String workerId, String device, int batchSize,
            int heartbeatSeconds, Path healthFile, java.time.Duration jobTimeout, RabbitSettings rabbit, int metricsPort) {
        this(modelPath, modelName, workerId, device, batchSize, heartbeatSeconds, healthFile, jobTimeout, rabbit,
                metricsPort, null, null, 0);
    }

    public static WorkerConfig fromEnv(Env env) {
        Map<String, Path> models = ServedModels.fromEnv(env);
        Map.Entry<String, Path> first = models.entrySet().iterator().next();
        String budget = env.string("MODEL_MEMORY_GB", "auto");
        long budgetBytes;
        try {
            budgetBytes = budget.equals("auto") ? 0 : Math.round(Double.parseDouble(budget) * (1L << 30));
        } catch (NumberFormatException e) {
            budgetBytes = -1;
        }
        if (budgetBytes < 0 || !budget.equals("auto") && budgetBytes == 0) {
            throw new ConfigException("MODEL_MEMORY_GB must be a positive number of GiB (e.g. 20 or 7.5), or auto: "
                    + "got '" + budget + "'");
        }
        Path checker = env.raw("SAFETY_CHECKER_PATH") == null ? null : Path.of(env.raw("SAFETY_CHECKER_PATH"));
        if (checker != null && !Files.exists(checker)) {
            throw new ConfigException("SAFETY_CHECKER_PATH points at " + absolute(checker) + ", which does not "
                    + "exist (a .safetensors file, or a folder with model.safetensors and config.json)");
        }
        return new WorkerConfig(first.getValue(), first.getKey(),
                env.string("WORKER_ID", defaultWorkerId()),
                env.choice("DEVICE", "auto", "auto", "cpu", "gpu"),
                env.integer("BATCH_SIZE", 4, 1, 64),
                env.integer("HEARTBEAT_SECONDS", 5, 1, 300),
                env.raw("HEALTH_FILE") == null ? null : Path.of(env.raw("HEALTH_FILE")),
                env.seconds("JOB_TIMEOUT_SECONDS", java.time.Duration.ofMinutes(15), java.time.Duration.ofSeconds(1),
                        java.time.Duration.ofDays(1)),
                RabbitSettings.fromEnv(env),
                env.integer("METRICS_PORT", 0, 0, 65535),
                checker, models, budgetBytes, folder(env, "EMBEDDINGS_DIR", "embeddings",
                        "textual-inversion .safetensors embeddings"), folder(env, "LORA_DIR", "loras", "LoRA .safetensors files"));
    }

    /**
     * A folder setting, which must be a folder; unset: {@code MODELS_DIR/<dflt>} if it is one, else none. Returned
     * (and named in errors) absolute and normalised: {@code /srv/models/loras}, not {@code /srv/./models/loras}.
     */
    static Path folder(Env env, String name, String dflt, String what) {
        String set = env.raw(name);
        if (set == null) {
            Path d = modelsDir(env).resolve(dflt);
            return Files.isDirectory(d) ? d : null;
        }
        Path p = absolute(Path.of(set));
        if (!Files.isDirectory(p)) {
            throw new ConfigException(name + " points at " + p + ", which is not a folder (the folder of " + what + ")");
        }
        return p;
    }

    /** {@code MODELS_DIR} (default {@code ./models}), absolute and normalised, whether or not it exists. */
    static Path modelsDir(Env env) {
        return absolute(Path.of(env.string("MODELS_DIR", "./models")));
    }

    /** {@code p} absolute and normalised, for paths the worker keeps or prints ({@code ./models} → {@code /cwd/models}). */
    static Path absolute(Path p) {
        return p.toAbsolutePath().normalize();
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
