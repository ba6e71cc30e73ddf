package org.diffusionbot.common;

import java.util.Locale;

/**
 * The architecture family of a model, as the worker recognises it from the model's tensors and
 * announces it in its heartbeats: what the bot shows in {@code /models}, which size {@code /imagine}
 * defaults to, and the limits a job for the model must keep (stated in every refusal).
 *
 * @see GenerationLimits for the limits every family shares
 */
public enum ModelFamily {
    /** Stable Diffusion 1.x: CLIP ViT-L, 512×512. */
    SD1("sd1", "SD 1.x", 512, 1024L * 1024L),
    /** Stable Diffusion 2.x: OpenCLIP ViT-H, 512×512 (base) or 768×768 (768-v). */
    SD2("sd2", "SD 2.x", 768, 1024L * 1024L),
    /** SDXL and its finetunes (Pony, Illustrious, NoobAI, ...): two text encoders, 1024×1024. */
    SDXL("sdxl", "SDXL", 1024, GenerationLimits.MAX_PIXELS);

    private final String id;
    private final String label;
    private final int nativeSize;
    private final long maxPixels;

    ModelFamily(String id, String label, int nativeSize, long maxPixels) {
        this.id = id;
        this.label = label;
        this.nativeSize = nativeSize;
        this.maxPixels = maxPixels;
    }

    /** The wire and settings name: {@code sd1}, {@code sd2}, {@code sdxl}. */
    public String id() {
        return id;
    }

    /** What users read, e.g. {@code SDXL}. */
    public String label() {
        return label;
    }

    /** The side of the square the family was trained at (a model may announce its own). */
    public int nativeSize() {
        return nativeSize;
    }

    /** Most pixels one image of this family may have. */
    public long maxPixels() {
        return maxPixels;
    }

    /** Most steps a job of this family may run. */
    public int maxSteps() {
        return GenerationLimits.MAX_STEPS;
    }

    /**
     * Most clip skip a job of this family may ask for: {@link GenerationLimits#MAX_CLIP_SKIP} (12, CLIP ViT-L's
     * layers), but 11 for SDXL, whose clip skip N takes {@code hidden_states[-(N + 1)]} of both encoders (1, its
     * default, is already the penultimate layer; diffusers' {@code clip_skip} N − 1), so CLIP ViT-L has one layer
     * fewer to give.
     */
    public int maxClipSkip() {
        return this == SDXL ? GenerationLimits.MAX_CLIP_SKIP - 1 : GenerationLimits.MAX_CLIP_SKIP;
    }

    /**
     * Checks a clip skip against this family's limit ({@link #maxClipSkip()}).
     *
     * @throws IllegalArgumentException one sentence naming the family and its range
     */
    public int checkClipSkip(int clipSkip) {
        if (clipSkip < GenerationLimits.MIN_CLIP_SKIP || clipSkip > maxClipSkip()) {
            throw new IllegalArgumentException(label + " models take clip skip " + GenerationLimits.MIN_CLIP_SKIP
                    + " to " + maxClipSkip() + ", got " + clipSkip);
        }
        return clipSkip;
    }

    /**
     * Checks a size: each side as {@link GenerationLimits#checkSide} says, the pixels against this
     * family's limit.
     *
     * @throws IllegalArgumentException one sentence naming the family and its limit
     */
    public void checkSize(int width, int height) {
        GenerationLimits.checkSide("width", width);
        GenerationLimits.checkSide("height", height);
        if ((long) width * height > maxPixels) {
            int side = (int) Math.sqrt((double) maxPixels);
            throw new IllegalArgumentException("image of " + width + "x" + height + " is too large for " + label
                    + " models: at most " + maxPixels + " pixels (e.g. " + side + "x" + side + ")");
        }
    }

    /** Checks steps against this family's limit. */
    public int checkSteps(int steps) {
        if (steps < GenerationLimits.MIN_STEPS || steps > maxSteps()) {
            throw new IllegalArgumentException(label + " models take " + GenerationLimits.MIN_STEPS + " to " + maxSteps()
                    + " steps, got " + steps);
        }
        return steps;
    }

    /** @throws IllegalArgumentException for an unknown id */
    public static ModelFamily fromId(String id) {
        for (ModelFamily f : values()) {
            if (f.id.equals(id.toLowerCase(Locale.ROOT))) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown model family '" + id + "' (sd1, sd2 or sdxl)");
    }
}
