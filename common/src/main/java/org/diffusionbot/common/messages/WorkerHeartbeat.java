package org.diffusionbot.common.messages;

import java.time.Instant;
import java.util.List;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * Published by every worker every few seconds to the heartbeat exchange.
 *
 * @param loras the LoRAs the worker's model can use (its {@code LORA_DIR}), optional
 * @param embeddings the textual-inversion embeddings it can use ({@code EMBEDDINGS_DIR}), optional
 * @param safetyChecker whether it checks images with the safety checker ({@code SAFETY_CHECKER_PATH}), optional
 *                      (absent: false)
 * @param modelInfo per model it serves: the family and native resolution ({@link ModelInfo}), optional
 * @param residentModels the models of {@code models} loaded now, most recently used first (the others
 *     are loaded on demand); optional: absent (older workers, which load their one model) = all of them
 * @param modelDefaults per model that has them: the sampler, schedule, steps and cfg its sidecar file
 *     recommends ({@link ModelDefaults}), optional (absent: none)
 */
public record WorkerHeartbeat(
        String workerId,
        String host,
        String device,
        List<String> models,
        State state,
        int jobsInHand,
        long jobsDone,
        double stepsPerSecond,
        Instant sentAt,
        @OptionalField List<Addon> loras,
        @OptionalField List<Addon> embeddings,
        @OptionalField Boolean safetyChecker,
        @OptionalField List<ModelInfo> modelInfo,
        @OptionalField List<String> residentModels,
        @OptionalField List<ModelDefaults> modelDefaults) implements Message {

    /** Most add-ons of one kind a heartbeat lists. */
    public static final int MAX_ADDONS = 5000;

    /**
     * A LoRA or embedding a worker has, named as prompts name it.
     *
     * @param name the file name without {@code .safetensors}
     * @param family the model family it is for ({@code sd1}, {@code sd2}, {@code sdxl}, {@code unknown})
     */
    public record Addon(String name, String family) {
        public Addon {
            Checks.notBlank("name", name, 200);
            Checks.notBlank("family", family, 50);
        }
    }

    /** What the worker is doing. */
    public enum State { STARTING, IDLE, BUSY, PAUSED, STOPPING }

    public WorkerHeartbeat {
        Checks.notBlank("worker_id", workerId, 200);
        Checks.notBlank("host", host, 255);
        Checks.notBlank("device", device, 200);
        models = Checks.list("models", models, 100);
        Checks.notNull("state", state);
        Checks.range("jobs_in_hand", jobsInHand, 0, 10_000);
        Checks.notNull("sent_at", sentAt);
        loras = loras == null ? List.of() : Checks.list("loras", loras, MAX_ADDONS);
        embeddings = embeddings == null ? List.of() : Checks.list("embeddings", embeddings, MAX_ADDONS);
        safetyChecker = Boolean.TRUE.equals(safetyChecker);
        modelInfo = modelInfo == null ? List.of() : Checks.list("model_info", modelInfo, 100);
        residentModels = residentModels == null ? models : Checks.list("resident_models", residentModels, 100);
        if (!models.containsAll(residentModels)) {
            throw new IllegalArgumentException("resident_models " + residentModels + " are not all in models " + models);
        }
        modelDefaults = modelDefaults == null ? List.of() : Checks.list("model_defaults", modelDefaults, 100);
    }

    /** A heartbeat without model defaults. */
    public WorkerHeartbeat(String workerId, String host, String device, List<String> models, State state, int jobsInHand,
            long jobsDone, double stepsPerSecond, Instant sentAt, List<Addon> loras, List<Addon> embeddings,
            Boolean safetyChecker, List<ModelInfo> modelInfo, List<String> residentModels) {
        this(workerId, host, device, models, state, jobsInHand, jobsDone, stepsPerSecond, sentAt, loras, embeddings,
                safetyChecker, modelInfo, residentModels, List.of());
    }

    /** What the model's sidecar file recommends for {@code model}, if anything. */
    public java.util.Optional<ModelDefaults> defaultsFor(String model) {
        return modelDefaults.stream().filter(d -> d.model().equals(model)).findFirst();
    }

    /**
     * A model's recommended settings, from the sidecar file next to its checkpoint ({@code NAME.json} or
     * {@code NAME.yaml}: docs/MODELS.md). The bot uses them for the options a user leaves out of {@code
     * /imagine}: few-step models (Lightning, Hyper, Turbo, LCM) then need no options. Each field may be
     * absent (null).
     *
     * @param model the model name (as in {@code models})
     * @param sampler the recommended sampler
     * @param schedule the recommended schedule (taken only with samplers that take it)
     * @param steps the recommended steps (1..150; lcm at most 50)
     * @param cfg the recommended guidance scale (0..30; ≤ 1 runs without the negative pass)
     */
    public record ModelDefaults(String model, Sampler sampler, Schedule schedule, Integer steps, Double cfg) {
        public ModelDefaults {
            Checks.notBlank("model", model, 200);
            if (steps != null) {
                GenerationLimits.checkSteps(sampler == null ? Sampler.DEFAULT : sampler, steps);
            }
            if (cfg != null) {
                GenerationLimits.checkCfg(cfg);
            }
            if (sampler != null && schedule != null) {
                sampler.scheduleWith(schedule);
            }
        }

        /** Whether it recommends nothing. */
        public boolean isEmpty() {
            return sampler == null && schedule == null && steps == null && cfg == null;
        }
    }

    /** What the worker says about {@code model}, if anything. */
    public java.util.Optional<ModelInfo> infoFor(String model) {
        return modelInfo.stream().filter(i -> i.model().equals(model)).findFirst();
    }

    /**
     * What a served model is, so that the bot can default {@code /imagine} to its size, pick its
     * aspect-ratio buckets and apply its family's limits.
     *
     * @param model the model name (as in {@code models})
     * @param family {@code sd1}, {@code sd2}, {@code sdxl} ({@link org.diffusionbot.common.ModelFamily}), or
     *     another name a newer worker knows
     * @param nativeWidth the width the model was trained at (e.g. 1024 for SDXL)
     * @param nativeHeight the height it was trained at
     */
    public record ModelInfo(String model, String family, int nativeWidth, int nativeHeight) {
        public ModelInfo {
            Checks.notBlank("model", model, 200);
            Checks.notBlank("family", family, 50);
            Checks.range("native_width", nativeWidth, 8, 8192);
            Checks.range("native_height", nativeHeight, 8, 8192);
        }
    }

    /** A heartbeat with add-ons, from a worker without a safety checker whose models are all loaded. */
    public WorkerHeartbeat(String workerId, String host, String device, List<String> models, State state, int jobsInHand,
            long jobsDone, double stepsPerSecond, Instant sentAt, List<Addon> loras, List<Addon> embeddings) {
        this(workerId, host, device, models, state, jobsInHand, jobsDone, stepsPerSecond, sentAt, loras, embeddings,
                false, List.of(), null, List.of());
    }

    /** A heartbeat with add-ons and the safety checker flag, whose models are all loaded. */
    public WorkerHeartbeat(String workerId, String host, String device, List<String> models, State state, int jobsInHand,
            long jobsDone, double stepsPerSecond, Instant sentAt, List<Addon> loras, List<Addon> embeddings,
            Boolean safetyChecker) {
        this(workerId, host, device, models, state, jobsInHand, jobsDone, stepsPerSecond, sentAt, loras, embeddings,
                safetyChecker, List.of(), null, List.of());
    }

    /** A heartbeat with add-ons, the safety checker flag and model info, whose models are all loaded. */
    public WorkerHeartbeat(String workerId, String host, String device, List<String> models, State state, int jobsInHand,
            long jobsDone, double stepsPerSecond, Instant sentAt, List<Addon> loras, List<Addon> embeddings,
            Boolean safetyChecker, List<ModelInfo> modelInfo) {
        this(workerId, host, device, models, state, jobsInHand, jobsDone, stepsPerSecond, sentAt, loras, embeddings,
                safetyChecker, modelInfo, null, List.of());
    }

    /** The models that are not loaded now but can be, in the order of {@code models}. */
    public List<String> loadableModels() {
        return models.stream().filter(m -> !residentModels.contains(m)).toList();
    }

    /** A heartbeat without add-ons. */
    public WorkerHeartbeat(String workerId, String host, String device, List<String> models, State state, int jobsInHand,
            long jobsDone, double stepsPerSecond, Instant sentAt) {
        this(workerId, host, device, models, state, jobsInHand, jobsDone, stepsPerSecond, sentAt, List.of(), List.of(),
                false, List.of(), null, List.of());
    }
}
