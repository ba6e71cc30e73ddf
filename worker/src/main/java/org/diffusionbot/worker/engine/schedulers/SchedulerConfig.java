package org.diffusionbot.worker.engine.schedulers;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The model-specific part of a diffusers scheduler configuration: the training noise schedule and
 * what the UNet predicts. Everything else (timestep spacing, solver order, ...) is fixed per
 * {@link org.diffusionbot.common.Sampler} by {@link Schedulers#create}, as diffusers' defaults for
 * each scheduler class, unless {@link #timestepSpacing()} overrides the spacing.
 *
 * @param numTrainTimesteps training timesteps (1000)
 * @param betaStart first beta
 * @param betaEnd last beta
 * @param betaSchedule {@code scaled_linear} (SD), {@code linear} or {@code squaredcos_cap_v2}
 * @param predictionType what the UNet predicts
 * @param timestepSpacing {@code leading}, {@code linspace} or {@code trailing}; null: the
 *     default of each scheduler class
 * @param stepsOffset offset added to {@code leading} timesteps; Stable Diffusion pipelines force 1
 * @param rescaleBetasZeroSnr diffusers' {@code rescale_betas_zero_snr} (zero-terminal-SNR finetunes):
 *     the betas are rescaled so that ᾱ reaches 0 at the last training timestep (Lin et al. 2023,
 *     {@code rescale_zero_terminal_snr}); the classes that support it then keep 0 (ddim) or clamp it
 *     to 2⁻²⁴ (euler, euler_a, DPM-Solver, unipc); pndm and lms ignore it, as in diffusers
 */
public record SchedulerConfig(
        int numTrainTimesteps,
        double betaStart,
        double betaEnd,
        String betaSchedule,
        PredictionType predictionType,
        String timestepSpacing,
        int stepsOffset,
        boolean rescaleBetasZeroSnr) {

    /** Without zero-terminal-SNR rescaling. */
    public SchedulerConfig(int numTrainTimesteps, double betaStart, double betaEnd, String betaSchedule,
            PredictionType predictionType, String timestepSpacing, int stepsOffset) {
        this(numTrainTimesteps, betaStart, betaEnd, betaSchedule, predictionType, timestepSpacing, stepsOffset, false);
    }

    /** What the denoising model outputs. */
    public enum PredictionType {
        /** the noise ε (SD 1.x, SD 2.x 512, SDXL). */
        EPSILON,
        /** v = √ᾱ·ε − √(1−ᾱ)·x0 (SD 2.x 768-v models). */
        V_PREDICTION;

        public static PredictionType parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "epsilon" -> EPSILON;
                case "v_prediction" -> V_PREDICTION;
                default -> throw new IllegalArgumentException("unsupported prediction_type " + s);
            };
        }
    }

    public SchedulerConfig {
        if (numTrainTimesteps < 2) {
            throw new IllegalArgumentException("numTrainTimesteps must be >= 2");
        }
        if (!betaSchedule.equals("scaled_linear") && !betaSchedule.equals("linear")
                && !betaSchedule.equals("squaredcos_cap_v2")) {
            throw new IllegalArgumentException("unsupported beta_schedule " + betaSchedule);
        }
        if (timestepSpacing != null && !timestepSpacing.equals("leading") && !timestepSpacing.equals("linspace")
                && !timestepSpacing.equals("trailing")) {
            throw new IllegalArgumentException("unsupported timestep_spacing " + timestepSpacing);
        }
    }

    /** Stable Diffusion 1.x/2.x/XL: 1000 steps, scaled_linear 0.00085 → 0.012, epsilon. */
    public static SchedulerConfig stableDiffusion() {
        return new SchedulerConfig(1000, 0.00085, 0.012, "scaled_linear", PredictionType.EPSILON, null, 1);
    }

    public SchedulerConfig withPredictionType(PredictionType p) {
        return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, p, timestepSpacing, stepsOffset,
                rescaleBetasZeroSnr);
    }

    /**
     * A zero-terminal-SNR model (scheduler config {@code rescale_betas_zero_snr}, or the {@code ztsnr}
     * marker of a single file): rescaled betas and, unless a spacing is already forced, trailing
     * timesteps (which start at the last training timestep, where the rescaled schedule is pure noise).
     */
    public SchedulerConfig withZeroTerminalSnr() {
        return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, predictionType,
                timestepSpacing != null ? timestepSpacing : "trailing", stepsOffset, true);
    }

    /** Forces a timestep spacing for every sampler (null: each class's default). */
    public SchedulerConfig withTimestepSpacing(String spacing) {
        return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, predictionType, spacing,
                stepsOffset, rescaleBetasZeroSnr);
    }

    /**
     * Reads a diffusers {@code scheduler_config.json}. Missing fields take diffusers' defaults
     * (1000 steps, linear 0.0001 → 0.02, epsilon). The file's {@code timestep_spacing} is not
     * used, since diffusers applies each scheduler class's own default when a sampler is chosen,
     * and {@code steps_offset} is 1 as Stable Diffusion pipelines force it. {@code
     * rescale_betas_zero_snr: true} gives {@link #withZeroTerminalSnr()}.
     */
    public static SchedulerConfig fromJson(String json) {
        JsonObject o = JsonParser.parseString(json).getAsJsonObject();
        JsonElement zsnr = get(o, "rescale_betas_zero_snr");
        SchedulerConfig c = new SchedulerConfig(
                intOr(o, "num_train_timesteps", 1000),
                doubleOr(o, "beta_start", 0.0001),
                doubleOr(o, "beta_end", 0.02),
                stringOr(o, "beta_schedule", "linear"),
                PredictionType.parse(stringOr(o, "prediction_type", "epsilon")),
                null,
                1);
        return zsnr != null && zsnr.getAsBoolean() ? c.withZeroTerminalSnr() : c;
    }

    public static SchedulerConfig fromFile(Path file) throws IOException {
        return fromJson(Files.readString(file, StandardCharsets.UTF_8));
    }

    private static JsonElement get(JsonObject o, String k) {
        JsonElement e = o.get(k);
        return e == null || e.isJsonNull() ? null : e;
    }

    private static int intOr(JsonObject o, String k, int d) {
        JsonElement e = get(o, k);
        return e == null ? d : e.getAsInt();
    }

    private static double doubleOr(JsonObject o, String k, double d) {
        JsonElement e = get(o, k);
        return e == null ? d : e.getAsDouble();
    }

    private static String stringOr(JsonObject o, String k, String d) {
        JsonElement e = get(o, k);
        return e == null ? d : e.getAsString();
    }
}
