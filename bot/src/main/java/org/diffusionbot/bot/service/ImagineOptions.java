package org.diffusionbot.bot.service;

import java.time.Instant;
import java.util.Locale;
import java.util.UUID;
import java.util.function.LongSupplier;
import java.util.function.Function;
import org.diffusionbot.common.AspectRatio;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.ModelSpec;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.SamplerChoice;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.mq.Topology;

/**
 * Turns the options of {@code /imagine} into a {@link JobRequest}, checking every value with
 * {@link GenerationLimits} and the limits of the model's family ({@link ModelFamily}, from the workers' heartbeats)
 * (Discord's own option limits are advisory: a crafted request can send anything). Each refusal is an
 * {@link IllegalArgumentException} whose message is shown to the user.
 *
 * <p>The size, first rule that applies: {@code width} / {@code height} (each overrides its side of what follows);
 * {@code size}; {@code ar}, the model's bucket for that aspect ratio ({@link AspectRatio#bucket}: 1344×768 for
 * 16:9 on SDXL); the user's {@code /settings} size; the model's native size (1024×1024 for SDXL, 512×512 for SD 1.5).
 *
 * <p>{@code guidance_rescale}: diffusers' {@code guidance_rescale} φ, 0 to 1 (0, the default, is plain
 * classifier-free guidance; about 0.7 for v-prediction / zero-terminal-SNR models).
 *
 * <p>{@code clip_skip}: Automatic1111's "Clip skip" ({@code CLIP_stop_at_last_layers}), 1 to 12 for every family:
 * the text encoders' hidden state N layers from the end, 1 = the last layer. Left out (and no {@code /settings}
 * default), the model family's default ({@link ModelFamily#defaultClipSkip}): 1 for SD 1.x/2.x, 2 (the penultimate
 * layer) for SDXL, so SDXL finetunes' "clip skip 2" is SDXL's default as in Automatic1111 and ComfyUI. The job
 * records a clip skip equal to its family's default as none ({@link ModelFamily#jobClipSkip}: 0), which the
 * displays leave out.
 */
public final class ImagineOptions {
    /** The size choices offered in the command (width x height). */
    public static final String[] SIZES = {"512x512", "768x512", "512x768", "640x640", "768x768", "1024x1024"};

    private ImagineOptions() {
    }

    /** Typed access to the options the user gave (null when absent). */
    public interface Options {
        String string(String name);

        Long integer(String name);

        Double number(String name);
    }

    /**
     * Defaults for options the user left out: their {@code /settings}, then the server's default negative prompt.
     * Null fields fall back to the bot's defaults. A default schedule the sampler does not take is left out
     * (the sampler's own schedule runs); an explicit one is refused.
     *
     * @param guidanceRescale the default guidance_rescale φ (0 to 1), or null: the bot's (0)
     * @param clipSkip the default clip skip (1 to 12), or null: the model family's ({@link
     *     ModelFamily#defaultClipSkip}); it applies to every family in the one numbering (a 2 saved for SD 1.5 anime
     *     models is SDXL's default)
     */
    public record Defaults(Sampler sampler, Integer steps, Double cfg, Integer width, Integer height, String negative,
            Schedule schedule, Double guidanceRescale, Integer clipSkip) {
        public static final Defaults NONE = new Defaults(null, null, null, null, null, null, null, null, null);

        /** Defaults without a clip skip. */
        public Defaults(Sampler sampler, Integer steps, Double cfg, Integer width, Integer height, String negative,
                Schedule schedule, Double guidanceRescale) {
            this(sampler, steps, cfg, width, height, negative, schedule, guidanceRescale, null);
        }

        /** Defaults without a guidance rescale. */
        public Defaults(Sampler sampler, Integer steps, Double cfg, Integer width, Integer height, String negative,
                Schedule schedule) {
            this(sampler, steps, cfg, width, height, negative, schedule, null, null);
        }

        /** Defaults without a schedule. */
        public Defaults(Sampler sampler, Integer steps, Double cfg, Integer width, Integer height, String negative) {
            this(sampler, steps, cfg, width, height, negative, null, null, null);
        }

        /**
         * These defaults under a model's recommendation (its sidecar file, announced by workers): what the model
         * recommends replaces the user's defaults, which still fill what it leaves out.
         *
         * @param m the recommendation, or null for none
         */
        public Defaults recommendedBy(WorkerHeartbeat.ModelDefaults m) {
            if (m == null) {
                return this;
            }
            return new Defaults(m.sampler() != null ? m.sampler() : sampler, m.steps() != null ? m.steps() : steps,
                    m.cfg() != null ? m.cfg() : cfg, width, height, negative,
                    m.schedule() != null ? m.schedule() : schedule, guidanceRescale, clipSkip);
        }
    }

    /**
     * The request the options ask for with the bot's defaults alone.
     *
     * @param specs what each model is (family, native size): the worker registry's {@code spec}
     */
    public static JobRequest toRequest(Options o, String defaultModel, Function<String, ModelSpec> specs,
            int previewEvery, LongSupplier random, Instant now) {
        return toRequest(o, Defaults.NONE, defaultModel, specs, previewEvery, random, now);
    }

    /** The request the options ask for, {@code d} filling in what they leave out. */
    public static JobRequest toRequest(Options o, Defaults d, String defaultModel, Function<String, ModelSpec> specs,
            int previewEvery, LongSupplier random, Instant now) {
        return toRequest(o, d, m -> null, defaultModel, specs, previewEvery, random, now);
    }

    /**
     * The request the options ask for. What they leave out comes from the chosen model's recommendation
     * ({@code recommended}: its sidecar file, as workers announce it; null for none), then {@code d} (the user's
     * settings, the server's negative prompt), then the bot's defaults.
     */
    public static JobRequest toRequest(Options o, Defaults d, Function<String, WorkerHeartbeat.ModelDefaults> recommended,
            String defaultModel, Function<String, ModelSpec> specs, int previewEvery, LongSupplier random, Instant now) {
        String model = o.string("model") == null ? defaultModel : o.string("model").trim();
        Topology.checkModelName(model);
        ModelSpec spec = specs.apply(model);
        d = d.recommendedBy(recommended.apply(model));
        String prompt = GenerationLimits.checkPrompt("prompt", o.string("prompt"), true);
        String negative = GenerationLimits.checkPrompt("negative prompt",
                o.string("negative") != null ? o.string("negative") : d.negative(), false);
        int steps = spec.family().checkSteps(GenerationLimits.checkSteps(toInt("steps", o.integer("steps"),
                d.steps() != null ? d.steps() : GenerationLimits.DEFAULT_STEPS)));
        double cfg = GenerationLimits.checkCfg(o.number("cfg") != null ? o.number("cfg")
                : d.cfg() != null ? d.cfg() : GenerationLimits.DEFAULT_CFG);
        long seed = o.integer("seed") == null ? random.getAsLong() & GenerationLimits.MAX_SEED
                : GenerationLimits.checkSeed(o.integer("seed"));
        int[] wh = size(o.string("size"), o.string("ar"), d, spec);
        int width = toInt("width", o.integer("width"), wh[0]);
        int height = toInt("height", o.integer("height"), wh[1]);
        GenerationLimits.checkSize(width, height);
        spec.family().checkSize(width, height);
        SamplerChoice choice = SamplerChoice.of(o.string("sampler") == null ? null : Sampler.fromId(o.string("sampler")),
                o.string("schedule") == null ? null : Schedule.fromId(o.string("schedule")), d.sampler(), d.schedule());
        Sampler sampler = choice.sampler();
        Schedule schedule = choice.schedule();
        int count = GenerationLimits.checkCount(toInt("count", o.integer("count"), 1));
        Double phi = o.number("guidance_rescale") != null ? o.number("guidance_rescale") : d.guidanceRescale();
        Double rescale = phi == null || phi == 0 ? null : GenerationLimits.checkGuidanceRescale(phi);
        int clipSkip = o.integer("clip_skip") != null
                ? spec.family().jobClipSkip(toInt("clip skip", o.integer("clip_skip"), GenerationLimits.MIN_CLIP_SKIP))
                : d.clipSkip() != null && d.clipSkip() >= GenerationLimits.MIN_CLIP_SKIP
                        && d.clipSkip() <= GenerationLimits.MAX_CLIP_SKIP ? spec.family().jobClipSkip(d.clipSkip())
                        : GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP;
        return new JobRequest(UUID.randomUUID(), model, prompt, negative, width, height, steps, cfg, sampler, seed, count,
                clipSkip, null, null, previewEvery, now, false, rescale, schedule);
    }

    /** The size before {@code width} / {@code height}: {@code size}, else {@code ar}, else the saved, else native. */
    private static int[] size(String size, String ar, Defaults d, ModelSpec spec) {
        if (size != null && ar != null) {
            throw new IllegalArgumentException("give either size or ar, not both (ar picks the model's own size for"
                    + " that aspect ratio)");
        }
        if (size != null) {
            return parseSize(size);
        }
        if (ar != null) {
            return spec.bucket(AspectRatio.fromId(ar));
        }
        if (d.width() != null && d.height() != null) {
            return new int[] {d.width(), d.height()};
        }
        return new int[] {spec.nativeWidth(), spec.nativeHeight()};
    }

    /** Parses {@code WxH} (e.g. 512x768); the caller checks it against the limits. */
    public static int[] parseSize(String size) {
        String[] wh = size.toLowerCase(Locale.ROOT).split("x");
        int width;
        int height;
        try {
            if (wh.length != 2) {
                throw new NumberFormatException();
            }
            width = Integer.parseInt(wh[0].trim());
            height = Integer.parseInt(wh[1].trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("size must look like 512x768, got '" + size + "'");
        }
        return new int[] {width, height};
    }

    private static int toInt(String name, Long value, int dflt) {
        if (value == null) {
            return dflt;
        }
        if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + " is out of range: " + value);
        }
        return value.intValue();
    }
}
