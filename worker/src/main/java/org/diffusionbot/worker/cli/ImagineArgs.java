package org.diffusionbot.worker.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.SamplerChoice;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.messages.WorkerHeartbeat.ModelDefaults;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig.PredictionType;
import org.diffusionbot.worker.runtime.ModelSidecar;

/**
 * Parsed and validated flags of {@code worker.jar imagine}. Values are checked with {@link
 * GenerationLimits}; every problem is an {@link IllegalArgumentException} with one sentence.
 * Flags take {@code --name value} or {@code --name=value}.
 *
 * @param model diffusers folder or single-file .safetensors
 * @param prompt the prompt
 * @param negative the negative prompt ("" for none)
 * @param seed seed of the first image (random when not given)
 * @param steps inference steps
 * @param cfg guidance scale
 * @param sampler the sampler
 * @param width image width in pixels, or null: the model's native size ({@link #width(int)})
 * @param height image height in pixels, or null: the model's native size ({@link #height(int)})
 * @param clipSkip Automatic1111's "Clip skip" N ({@code hidden_states[-N]}, 1 = the last layer), or {@link
 *     GenerationLimits#FAMILY_DEFAULT_CLIP_SKIP} (0, when not given): the model family's default (SDXL 2, else 1)
 * @param count images (seeds seed, seed+1, ...)
 * @param initImage init image for img2img, or null
 * @param strength img2img strength (null for txt2img; 0.75 when --init-image is given alone)
 * @param gpu run on the GPU in float16 (else CPU float32)
 * @param prediction prediction type override (SD 2.x 768-px models: v_prediction), or null
 * @param out the PNG to write ({@code out} for one image; {@code out-1.png ... out-N.png} for several)
 * @param guidanceRescale diffusers' {@code guidance_rescale} φ, 0..1 (0: plain guidance)
 * @param vae a VAE to use instead of the model's ({@code --vae}: diffusers folder or {@code .safetensors}), or null
 * @param schedule the sampler's noise schedule (default: the scheduler class's own)
 * @param loraDir the LoRA folder {@code <lora:NAME:W>} tags name files of ({@code --lora-dir}), or null: none
 * @param embeddingsDir the textual-inversion embeddings' folder ({@code --embeddings-dir}), or null: none
 */
public record ImagineArgs(
        Path model,
        String prompt,
        String negative,
        long seed,
        int steps,
        double cfg,
        Sampler sampler,
        Integer width,
        Integer height,
        int clipSkip,
        int count,
        Path initImage,
        Double strength,
        boolean gpu,
        PredictionType prediction,
        Path out,
        double guidanceRescale,
        Path vae,
        Schedule schedule,
        Path loraDir,
        Path embeddingsDir) {

    public static final String USAGE = """
            usage: java -jar worker.jar imagine --model PATH --prompt TEXT --out FILE.png [options]
              --model PATH        diffusers folder (model_index.json) or single-file .safetensors (SD 1.x/2.x/XL)
              --prompt TEXT       what to draw
              --negative TEXT     what to avoid
              --seed N            0..4294967295 (default: random; image i uses seed+i)
              --steps N           1..150 (default 30)
              --cfg F             guidance scale 0..30 (default 7)
              --sampler NAME      %s (default %s)
              --schedule NAME     %s (default: the sampler's own): karras, exponential
                                  for euler, heun, lms, unipc, dpmpp_2m(_sde); trailing (A1111's "SGM Uniform",
                                  for Lightning/Hyper/Turbo models) for all but lcm; alone, it turns the
                                  default dpmpp_2m_karras into dpmpp_2m
              --width W, --height H   multiples of 8 in 64..2048 (default: the model's native size: %s);
                                  at most %s
              --clip-skip N       1..12, A1111's "Clip skip": CLIP's hidden state N layers from the end
                                  (default: the model's, 1 = the last layer; SDXL 2 = the penultimate)
              --count N           1..4 images (default 1): FILE-1.png .. FILE-N.png when N > 1
              --init-image FILE   PNG/JPEG for img2img, with --strength F in (0,1] (default 0.75)
              --device cpu|gpu    cpu: float32 (default); gpu: CUDA float16
              --prediction epsilon|v_prediction   override (SD 2.x 768-px models are v_prediction)
              --guidance-rescale F   0..1 (default 0): diffusers' guidance_rescale, for zero-terminal-SNR models
              --vae PATH          a VAE instead of the model's: diffusers vae/ folder or .safetensors (either naming)
              --lora-dir DIR      LoRA .safetensors files that <lora:NAME:WEIGHT> in the prompts name (NAME: the
                                  file name, any case; also <lora:NAME:TE:UNET>)
              --embeddings-dir DIR   textual-inversion .safetensors embeddings, used where their file name is a
                                  word of the prompt or negative prompt
              --out FILE.png      where to write the image(s)

            A sidecar file next to the model (NAME.json or NAME.yaml: sampler, schedule, steps, cfg) fills the
            --sampler, --schedule, --steps and --cfg not given (docs/MODELS.md).
            """.formatted(Sampler.ids(), Sampler.DEFAULT.id(), Schedule.ids(), nativeSizes(), sizeLimits());

    private static final Set<String> FLAGS = Set.of("model", "prompt", "negative", "seed", "steps", "cfg", "sampler",
            "width", "height", "clip-skip", "count", "init-image", "strength", "device", "prediction", "out",
            "guidance-rescale", "vae", "schedule", "lora-dir", "embeddings-dir");

    /**
     * @param args the arguments after {@code imagine}
     * @return validated arguments
     * @throws IllegalArgumentException with one sentence naming the problem
     */
    public static ImagineArgs parse(String... args) {
        Map<String, String> v = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + a + "' (flags start with --)");
            }
            String name = a.substring(2);
            String value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            if (!FLAGS.contains(name)) {
                throw new IllegalArgumentException("unknown flag --" + name);
            }
            if (value == null) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("--" + name + " needs a value");
                }
                value = args[++i];
            }
            if (v.put(name, value) != null) {
                throw new IllegalArgumentException("--" + name + " given twice");
            }
        }
        Path model = Path.of(required(v, "model"));
        if (!Files.exists(model)) {
            throw new IllegalArgumentException("model " + model + " does not exist");
        }
        String prompt = GenerationLimits.checkPrompt("prompt", required(v, "prompt"), true);
        String negative = GenerationLimits.checkPrompt("negative prompt", v.getOrDefault("negative", ""), false);
        String outText = required(v, "out");
        if (!outText.toLowerCase(java.util.Locale.ROOT).endsWith(".png")) {
            throw new IllegalArgumentException("--out must name a .png file, got " + outText);
        }
        long seed = v.containsKey("seed") ? GenerationLimits.checkSeed(longValue(v, "seed"))
                : ThreadLocalRandom.current().nextLong(GenerationLimits.MAX_SEED + 1);
        // the model's sidecar file (NAME.json / NAME.yaml) fills the flags not given
        ModelDefaults md = ModelSidecar.read("imagine", model).orElse(null);
        int steps = GenerationLimits.checkSteps(intValue(v, "steps", md != null && md.steps() != null ? md.steps()
                : GenerationLimits.DEFAULT_STEPS));
        double cfg = GenerationLimits.checkCfg(doubleValue(v, "cfg", md != null && md.cfg() != null ? md.cfg()
                : GenerationLimits.DEFAULT_CFG));
        SamplerChoice choice = SamplerChoice.of(v.containsKey("sampler") ? Sampler.fromId(v.get("sampler")) : null,
                v.containsKey("schedule") ? Schedule.fromId(v.get("schedule")) : null,
                md == null ? null : md.sampler(), md == null ? null : md.schedule());
        Sampler sampler = choice.sampler();
        Schedule schedule = choice.schedule();
        GenerationLimits.checkSteps(sampler, steps);
        // a side not given is the model's native size, known once it is loaded (the family's limit is checked then)
        Integer width = v.containsKey("width") ? GenerationLimits.checkSide("width", intValue(v, "width", 0)) : null;
        Integer height = v.containsKey("height") ? GenerationLimits.checkSide("height", intValue(v, "height", 0)) : null;
        if (width != null && height != null) {
            GenerationLimits.checkSize(width, height);
        }
        int clipSkip = v.containsKey("clip-skip") ? GenerationLimits.checkClipSkip(intValue(v, "clip-skip", 0))
                : GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP;
        int count = GenerationLimits.checkCount(intValue(v, "count", 1));
        Path init = v.containsKey("init-image") ? Path.of(v.get("init-image")) : null;
        Double strength = null;
        if (init != null) {
            if (!Files.isRegularFile(init)) {
                throw new IllegalArgumentException("init image " + init + " does not exist");
            }
            strength = GenerationLimits.checkStrength(doubleValue(v, "strength", 0.75));
        } else if (v.containsKey("strength")) {
            throw new IllegalArgumentException("--strength needs --init-image");
        }
        String device = v.getOrDefault("device", "cpu");
        if (!device.equals("cpu") && !device.equals("gpu")) {
            throw new IllegalArgumentException("--device must be cpu or gpu, got " + device);
        }
        PredictionType prediction = v.containsKey("prediction") ? PredictionType.parse(v.get("prediction")) : null;
        double rescale = GenerationLimits.checkGuidanceRescale(doubleValue(v, "guidance-rescale", 0));
        Path vae = v.containsKey("vae") ? Path.of(v.get("vae")) : null;
        if (vae != null && !Files.exists(vae)) {
            throw new IllegalArgumentException("VAE " + vae + " does not exist");
        }
        Path loraDir = folder(v, "lora-dir");
        Path embeddingsDir = folder(v, "embeddings-dir");
        return new ImagineArgs(model, prompt, negative, seed, steps, cfg, sampler, width, height, clipSkip, count, init,
                strength, device.equals("gpu"), prediction, Path.of(outText), rescale, vae, schedule, loraDir,
                embeddingsDir);
    }

    private static Path folder(Map<String, String> v, String flag) {
        if (!v.containsKey(flag)) {
            return null;
        }
        Path p = Path.of(v.get(flag));
        if (!Files.isDirectory(p)) {
            throw new IllegalArgumentException("--" + flag + " " + p + " is not a folder");
        }
        return p;
    }

    /**
     * @param nativeSize the loaded model's native side in pixels ({@code StableDiffusionPipeline.nativeSize()})
     * @return {@code --width}, or the native size when it was not given
     */
    public int width(int nativeSize) {
        return width != null ? width : nativeSize;
    }

    /**
     * @param nativeSize the loaded model's native side in pixels ({@code StableDiffusionPipeline.nativeSize()})
     * @return {@code --height}, or the native size when it was not given
     */
    public int height(int nativeSize) {
        return height != null ? height : nativeSize;
    }

    /** The families' native sizes for the usage text, e.g. {@code SD 1.x 512x512, ..., SDXL 1024x1024}. */
    private static String nativeSizes() {
        return java.util.Arrays.stream(ModelFamily.values())
                .map(f -> f.label() + " " + (f == ModelFamily.SD2 ? "512x512 or 768x768 (v-prediction)"
                        : f.nativeSize() + "x" + f.nativeSize()))
                .collect(java.util.stream.Collectors.joining(", "));
    }

    /** The families' pixel limits for the usage text, e.g. {@code 1024x1024 pixels for SD 1.x and SD 2.x, ...}. */
    private static String sizeLimits() {
        Map<Long, java.util.List<String>> byLimit = new java.util.TreeMap<>();
        for (ModelFamily f : ModelFamily.values()) {
            byLimit.computeIfAbsent(f.maxPixels(), k -> new java.util.ArrayList<>()).add(f.label());
        }
        return byLimit.entrySet().stream().map(e -> {
            int side = (int) Math.sqrt((double) e.getKey());
            return side + "x" + side + " pixels for " + String.join(" and ", e.getValue());
        }).collect(java.util.stream.Collectors.joining(", "));
    }

    /** Where image {@code i} (0-based) goes: {@code out} for a single image, else {@code out-(i+1).png}. */
    public Path outFor(int i) {
        if (count == 1) {
            return out;
        }
        String name = out.getFileName().toString();
        String base = name.substring(0, name.length() - 4);
        return out.resolveSibling(base + "-" + (i + 1) + ".png");
    }

    private static String required(Map<String, String> v, String name) {
        String s = v.get(name);
        if (s == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return s;
    }

    private static int intValue(Map<String, String> v, String name, int def) {
        String s = v.get(name);
        if (s == null) {
            return def;
        }
        try {
            return Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be a whole number, got '" + s + "'");
        }
    }

    private static long longValue(Map<String, String> v, String name) {
        String s = v.get(name);
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be a whole number, got '" + s + "'");
        }
    }

    private static double doubleValue(Map<String, String> v, String name, double def) {
        String s = v.get(name);
        if (s == null) {
            return def;
        }
        try {
            double d = Double.parseDouble(s.trim());
            if (!Double.isFinite(d)) {
                throw new NumberFormatException();
            }
            return d;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be a number, got '" + s + "'");
        }
    }
}
