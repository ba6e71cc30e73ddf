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
     * The clip skip of a job of this family that chose none ({@link GenerationLimits#FAMILY_DEFAULT_CLIP_SKIP}), in
     * Automatic1111's numbering (N = {@code hidden_states[-N]}): 1, the last layer, for SD 1.x/2.x; 2, the
     * penultimate layer, for SDXL, as diffusers' {@code StableDiffusionXLPipeline.encode_prompt}
     * ({@code hidden_states[-2]} of both encoders) and ComfyUI's SDXL text encoders ({@code comfy/sdxl_clip.py}:
     * {@code layer="hidden", layer_idx=-2}) take it. So SDXL finetunes' advice "clip skip 2" is this default.
     *
     * <p>SD 2.x counts in its text encoder as diffusers ships it (and our single-file conversion builds it), 23 of
     * OpenCLIP ViT-H's 24 layers: its 1 is OpenCLIP's penultimate layer, what SD 2 conditions on and ComfyUI's
     * default {@code -2} ({@code comfy/sd2_clip.py}); Automatic1111 ignores clip skip on SD 2.x.
     */
    public int defaultClipSkip() {
        return this == SDXL ? 2 : 1;
    }

    /**
     * The clip skip a job of this family runs with: its own, or {@link #defaultClipSkip()} for {@link
     * GenerationLimits#FAMILY_DEFAULT_CLIP_SKIP}.
     */
    public int effectiveClipSkip(int jobClipSkip) {
        return GenerationLimits.checkJobClipSkip(jobClipSkip) == GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP
                ? defaultClipSkip() : jobClipSkip;
    }

    /**
     * What a job of this family records for a chosen clip skip ({@link GenerationLimits#checkClipSkip}): {@link
     * GenerationLimits#FAMILY_DEFAULT_CLIP_SKIP} for the family's default, so the displays that leave the default out
     * need not know the family, else the clip skip.
     */
    public int jobClipSkip(int clipSkip) {
        return GenerationLimits.checkClipSkip(clipSkip) == defaultClipSkip()
                ? GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP : clipSkip;
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
