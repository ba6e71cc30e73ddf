package org.diffusionbot.common;

/**
 * The one place that says which generation parameters are acceptable. The bot checks slash-command
 * options with it, the worker checks every job off the queue and every command-line flag with it,
 * so a value refused in one place is refused everywhere with the same words.
 */
public final class GenerationLimits {
    public static final int MIN_STEPS = 1;
    public static final int MAX_STEPS = 150;
    public static final int DEFAULT_STEPS = 30;
    public static final double MIN_CFG = 0;
    public static final double MAX_CFG = 30;
    public static final double DEFAULT_CFG = 7.0;
    public static final int MIN_SIZE = 64;
    public static final int MAX_SIZE = 2048;
    public static final int SIZE_MULTIPLE = 8;
    public static final int DEFAULT_SIZE = 512;
    /**
     * Most pixels one image of any family may have (2048x2048, SDXL's limit): bounds memory whatever the aspect
     * ratio. A job's own limit is its model family's ({@link ModelFamily#checkSize}), which the bot applies before
     * it charges and the worker before it runs the job.
     */
    public static final long MAX_PIXELS = 2048L * 2048L;
    public static final int MIN_COUNT = 1;
    public static final int MAX_COUNT = 4;
    /**
     * Clip skip as Automatic1111's "Clip skip" ({@code CLIP_stop_at_last_layers}) for every family: N takes the text
     * encoders' hidden state N layers from the end ({@code hidden_states[-N]}), 1 = the last layer
     * ({@link ModelFamily#defaultClipSkip}: SD 1.x/2.x's default; SDXL's is 2).
     */
    public static final int MIN_CLIP_SKIP = 1;
    /** Most clip skip: CLIP ViT-L's 12 layers (SD 1.x, SDXL's first encoder; SD 2.x's OpenCLIP has 23, bigG 32). */
    public static final int MAX_CLIP_SKIP = 12;
    /**
     * A job's clip skip when none was chosen (or the one chosen is its model family's default): the worker takes
     * {@link ModelFamily#defaultClipSkip}, the displays leave it out. Jobs and their stored rows carry this or
     * {@link #MIN_CLIP_SKIP}..{@link #MAX_CLIP_SKIP} ({@link #checkJobClipSkip}).
     */
    public static final int FAMILY_DEFAULT_CLIP_SKIP = 0;
    public static final int MAX_PROMPT_CHARS = 2000;
    public static final long MAX_SEED = 0xFFFF_FFFFL;

    private GenerationLimits() {
    }

    public static int checkSteps(int steps) {
        if (steps < MIN_STEPS || steps > MAX_STEPS) {
            throw new IllegalArgumentException(
                    "steps must be between " + MIN_STEPS + " and " + MAX_STEPS + ", got " + steps);
        }
        return steps;
    }

    /**
     * {@link #checkSteps(int)} and the sampler's own limit ({@link Sampler#maxSteps()}: lcm takes
     * at most 50).
     */
    public static int checkSteps(Sampler sampler, int steps) {
        checkSteps(steps);
        if (steps > sampler.maxSteps()) {
            throw new IllegalArgumentException("sampler " + sampler.id() + " takes at most " + sampler.maxSteps()
                    + " steps, got " + steps);
        }
        return steps;
    }

    public static double checkCfg(double cfg) {
        if (!(cfg >= MIN_CFG && cfg <= MAX_CFG)) {
            throw new IllegalArgumentException(
                    "cfg must be between " + fmt(MIN_CFG) + " and " + fmt(MAX_CFG) + ", got " + cfg);
        }
        return cfg;
    }

    /** Checks one side of an image: a multiple of 8 between 64 and 2048. */
    public static int checkSide(String what, int px) {
        if (px < MIN_SIZE || px > MAX_SIZE || px % SIZE_MULTIPLE != 0) {
            throw new IllegalArgumentException(what + " must be a multiple of " + SIZE_MULTIPLE
                    + " between " + MIN_SIZE + " and " + MAX_SIZE + ", got " + px);
        }
        return px;
    }

    /** Checks a size against the loosest family's limits ({@link #MAX_PIXELS}); see {@link ModelFamily#checkSize}. */
    public static void checkSize(int width, int height) {
        checkSide("width", width);
        checkSide("height", height);
        if ((long) width * height > MAX_PIXELS) {
            int side = (int) Math.sqrt((double) MAX_PIXELS);
            throw new IllegalArgumentException("image of " + width + "x" + height
                    + " is too large: at most " + MAX_PIXELS + " pixels (e.g. " + side + "x" + side + ")");
        }
    }

    public static int checkCount(int count) {
        if (count < MIN_COUNT || count > MAX_COUNT) {
            throw new IllegalArgumentException(
                    "count must be between " + MIN_COUNT + " and " + MAX_COUNT + ", got " + count);
        }
        return count;
    }

    /** A clip skip a user chose: {@link #MIN_CLIP_SKIP}..{@link #MAX_CLIP_SKIP}. */
    public static int checkClipSkip(int clipSkip) {
        if (clipSkip < MIN_CLIP_SKIP || clipSkip > MAX_CLIP_SKIP) {
            throw new IllegalArgumentException("clip skip must be between " + MIN_CLIP_SKIP + " and "
                    + MAX_CLIP_SKIP + ", got " + clipSkip);
        }
        return clipSkip;
    }

    /** A job's clip skip: {@link #FAMILY_DEFAULT_CLIP_SKIP} (0) or a chosen one ({@link #checkClipSkip}). */
    public static int checkJobClipSkip(int clipSkip) {
        return clipSkip == FAMILY_DEFAULT_CLIP_SKIP ? clipSkip : checkClipSkip(clipSkip);
    }

    public static long checkSeed(long seed) {
        if (seed < 0 || seed > MAX_SEED) {
            throw new IllegalArgumentException("seed must be between 0 and " + MAX_SEED + ", got " + seed);
        }
        return seed;
    }

    /** The seed of image {@code i} of a batch: consecutive seeds, wrapping in 32 bits, as Automatic1111 does. */
    public static long seedOf(long seed, int i) {
        return (seed + i) & MAX_SEED;
    }

    /** Range of diffusers' {@code guidance_rescale} φ; 0 is plain classifier-free guidance. */
    public static final double MIN_GUIDANCE_RESCALE = 0;
    public static final double MAX_GUIDANCE_RESCALE = 1;

    /** diffusers' {@code guidance_rescale} φ (CFG rescale for zero-terminal-SNR models): 0 to 1. */
    public static double checkGuidanceRescale(double phi) {
        if (!(phi >= MIN_GUIDANCE_RESCALE && phi <= MAX_GUIDANCE_RESCALE)) {
            throw new IllegalArgumentException("guidance rescale must be between " + fmt(MIN_GUIDANCE_RESCALE)
                    + " and " + fmt(MAX_GUIDANCE_RESCALE) + ", got " + phi);
        }
        return phi;
    }

    public static double checkStrength(double strength) {
        if (!(strength > 0 && strength <= 1)) {
            throw new IllegalArgumentException("strength must be greater than 0 and at most 1, got " + strength);
        }
        return strength;
    }

    /**
     * The denoising steps an img2img job runs: {@code min(floor(steps × strength), steps)}, as diffusers'
     * {@code StableDiffusionImg2ImgPipeline.get_timesteps} (the worker's schedulers skip the rest).
     */
    public static int img2imgSteps(int steps, double strength) {
        return Math.min((int) (steps * strength), steps);
    }

    /**
     * Refuses an img2img job that would run no denoising step ({@link #img2imgSteps} is 0: diffusers raises, the
     * worker fails it), naming the fewest steps that run one at this strength.
     */
    public static void checkImg2img(int steps, double strength) {
        if (img2imgSteps(steps, strength) >= 1) {
            return;
        }
        int needed = steps;
        while (needed < MAX_STEPS && img2imgSteps(needed, strength) < 1) {
            needed++;
        }
        throw new IllegalArgumentException("img2img at strength " + strength + " with " + steps
                + " step(s) runs no denoising step (it runs steps × strength of them); at this strength it needs at"
                + " least " + needed + " steps");
    }

    /** Prompts: bounded length, no control characters other than newline and tab. */
    public static String checkPrompt(String what, String text, boolean required) {
        if (text == null || text.isBlank()) {
            if (required) {
                throw new IllegalArgumentException(what + " must not be empty");
            }
            return "";
        }
        if (text.length() > MAX_PROMPT_CHARS) {
            throw new IllegalArgumentException(what + " is " + text.length() + " characters long; at most "
                    + MAX_PROMPT_CHARS + " are allowed");
        }
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isISOControl(c) && c != '\n' && c != '\t') {
                throw new IllegalArgumentException(what + " contains a control character (U+"
                        + String.format("%04X", (int) c) + ") at position " + i);
            }
            if (Character.isSurrogate(c) && !(Character.isHighSurrogate(c) && i + 1 < text.length()
                    && Character.isLowSurrogate(text.charAt(i + 1)))) {
                if (Character.isLowSurrogate(c) && i > 0 && Character.isHighSurrogate(text.charAt(i - 1))) {
                    continue;
                }
                throw new IllegalArgumentException(what + " contains an invalid character (a broken UTF-16 surrogate)"
                        + " at position " + i);
            }
        }
        return text;
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
}
