package org.diffusionbot.common.image;

import java.util.LinkedHashMap;
import java.util.Map;
import org.diffusionbot.common.Sampler;

/**
 * The settings that produced an image, written the way Automatic1111 writes its {@code parameters}
 * PNG chunk so that other tools (A1111's "PNG Info", ComfyUI, civitai) read them back:
 *
 * <pre>
 * a photograph of an astronaut riding a horse
 * Negative prompt: blurry
 * Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x512, Model: sd15, Clip skip: 2
 * </pre>
 *
 * @param strength img2img denoising strength, or null for txt2img
 */
public record GenerationParameters(
        String prompt,
        String negativePrompt,
        int steps,
        Sampler sampler,
        double cfg,
        long seed,
        int width,
        int height,
        String model,
        int clipSkip,
        Double strength) {

    public static final String PNG_KEYWORD = "parameters";

    /** The text of the {@code parameters} chunk. */
    public String toA1111() {
        StringBuilder sb = new StringBuilder(prompt);
        if (negativePrompt != null && !negativePrompt.isEmpty()) {
            sb.append("\nNegative prompt: ").append(negativePrompt);
        }
        Map<String, String> kv = new LinkedHashMap<>();
        kv.put("Steps", Integer.toString(steps));
        kv.put("Sampler", sampler.displayName());
        kv.put("CFG scale", number(cfg));
        kv.put("Seed", Long.toString(seed));
        kv.put("Size", width + "x" + height);
        kv.put("Model", model);
        if (strength != null) {
            kv.put("Denoising strength", number(strength));
        }
        if (clipSkip > 1) {
            kv.put("Clip skip", Integer.toString(clipSkip));
        }
        sb.append('\n');
        String sep = "";
        for (Map.Entry<String, String> e : kv.entrySet()) {
            sb.append(sep).append(e.getKey()).append(": ").append(e.getValue());
            sep = ", ";
        }
        return sb.toString();
    }

    /** A PNG of the image with this chunk. */
    public byte[] toPng(int imageWidth, int imageHeight, byte[] rgb) {
        return Png.encodeRgb(imageWidth, imageHeight, rgb, Map.of(PNG_KEYWORD, toA1111()));
    }

    private static String number(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
