package org.diffusionbot.common.image;

import java.util.LinkedHashMap;
import java.util.Map;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * The settings that produced an image, written the way Automatic1111 writes its {@code parameters}
 * PNG chunk so that other tools (A1111's "PNG Info", ComfyUI, civitai) read them back:
 *
 * <pre>
 * a photograph of an astronaut riding a horse
 * Negative prompt: blurry
 * Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x512, Model: sd15, Clip skip: 2
 * </pre>
 *
 * The sampler and its schedule are written as Automatic1111 1.9 and later write them: {@code
 * Sampler:} without the schedule ({@link Sampler#a1111Sampler()}) and {@code Schedule type:} (A1111's
 * name, {@link Schedule#displayName()}) unless it is the sampler's default.
 *
 * @param clipSkip the clip skip the image was made with, in Automatic1111's numbering (the job's, or its model
 *     family's default: {@link org.diffusionbot.common.ModelFamily#effectiveClipSkip}), written as A1111 writes it:
 *     {@code Clip skip: N} when above 1, so an SDXL image made with its default says {@code Clip skip: 2}
 * @param strength img2img denoising strength, or null for txt2img
 * @param schedule the schedule asked for (null: the default); the "... Karras" samplers write Karras
 * @param guidanceRescale diffusers' {@code guidance_rescale} φ (0: none, not written), written as
 *     {@code CFG Rescale φ: 0.7}, the name A1111's CFG rescale extension (sd-webui-cfg-rescale) writes and reads
 *     back, which the neutral-prompt extension and infotext readers also accept; A1111 itself has no such field
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
        Double strength,
        Schedule schedule,
        double guidanceRescale) {

    public static final String PNG_KEYWORD = "parameters";
    /** The {@code parameters} field of {@link #guidanceRescale}. */
    public static final String CFG_RESCALE_FIELD = "CFG Rescale φ";

    /** The parameters of a job with the default schedule and no guidance rescale. */
    public GenerationParameters(String prompt, String negativePrompt, int steps, Sampler sampler, double cfg, long seed,
            int width, int height, String model, int clipSkip, Double strength) {
        this(prompt, negativePrompt, steps, sampler, cfg, seed, width, height, model, clipSkip, strength, null, 0);
    }

    /** The parameters of a job without guidance rescale. */
    public GenerationParameters(String prompt, String negativePrompt, int steps, Sampler sampler, double cfg, long seed,
            int width, int height, String model, int clipSkip, Double strength, Schedule schedule) {
        this(prompt, negativePrompt, steps, sampler, cfg, seed, width, height, model, clipSkip, strength, schedule, 0);
    }

    /** The text of the {@code parameters} chunk. */
    public String toA1111() {
        return toA1111(Map.of());
    }

    /**
     * The text of the {@code parameters} chunk with more of AUTOMATIC1111's fields after the standard
     * ones (e.g. {@code Lora hashes}), each value quoted as A1111's {@code infotext_utils.quote} does
     * when it holds a comma, colon or line break: {@code Lora hashes: "name: 0123456789ab"}.
     *
     * @param extra field → value, in order
     */
    public String toA1111(Map<String, String> extra) {
        StringBuilder sb = new StringBuilder(prompt);
        if (negativePrompt != null && !negativePrompt.isEmpty()) {
            sb.append("\nNegative prompt: ").append(negativePrompt);
        }
        Map<String, String> kv = new LinkedHashMap<>();
        kv.put("Steps", Integer.toString(steps));
        kv.put("Sampler", sampler.a1111Sampler());
        Schedule effective = sampler.scheduleWith(schedule);
        if (effective != Schedule.DEFAULT) {
            kv.put("Schedule type", effective.displayName());
        }
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
        if (guidanceRescale != 0) {
            kv.put(CFG_RESCALE_FIELD, number(guidanceRescale));
        }
        extra.forEach((k, v) -> kv.put(k, quote(v)));
        sb.append('\n');
        String sep = "";
        for (Map.Entry<String, String> e : kv.entrySet()) {
            sb.append(sep).append(e.getKey()).append(": ").append(e.getValue());
            sep = ", ";
        }
        return sb.toString();
    }

    /**
     * The guidance rescale φ a {@code parameters} text states ({@link #CFG_RESCALE_FIELD} on its last line, as
     * {@link #toA1111} writes it), or 0 when it states none or an unreadable value.
     *
     * @param parametersText the text of a {@code parameters} chunk (null: none)
     */
    public static double guidanceRescaleOf(String parametersText) {
        if (parametersText == null) {
            return 0;
        }
        String last = parametersText.substring(parametersText.lastIndexOf('\n') + 1);
        String key = CFG_RESCALE_FIELD + ": ";
        int at = last.startsWith(key) ? 0 : last.indexOf(", " + key);
        if (at < 0) {
            return 0;
        }
        int from = at == 0 ? key.length() : at + 2 + key.length();
        int to = last.indexOf(',', from);
        try {
            return Double.parseDouble(last.substring(from, to < 0 ? last.length() : to).strip());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** A PNG of the image with this chunk. */
    public byte[] toPng(int imageWidth, int imageHeight, byte[] rgb) {
        return toPng(imageWidth, imageHeight, rgb, Map.of());
    }

    /** A PNG of the image with this chunk and more fields ({@link #toA1111(Map)}). */
    public byte[] toPng(int imageWidth, int imageHeight, byte[] rgb, Map<String, String> extra) {
        return Png.encodeRgb(imageWidth, imageHeight, rgb, Map.of(PNG_KEYWORD, toA1111(extra)));
    }

    /** A1111's {@code quote}: as is unless it holds {@code ,} {@code :} or a line break, else a JSON string. */
    static String quote(String v) {
        if (v.indexOf(',') < 0 && v.indexOf(':') < 0 && v.indexOf('\n') < 0) {
            return v;
        }
        StringBuilder sb = new StringBuilder("\"");
        for (char c : v.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                default -> sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    private static String number(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
