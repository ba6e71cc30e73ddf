package org.diffusionbot.worker.engine.pipeline;

import java.util.List;
import java.util.Objects;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * One prompt of a {@link StableDiffusionPipeline#generate} batch, producing one image per seed.
 * Requests of one batch may differ in prompt, negative prompt, seeds, guidance scale, clip skip
 * and init image; they must share size, steps, sampler, schedule and strength (see {@link
 * BatchKey}). Values are checked with {@link GenerationLimits}.
 *
 * @param prompt the prompt
 * @param negativePrompt the negative prompt ("" for none; encoded like any prompt, as diffusers does)
 * @param seeds one seed per image (each image gets its own {@code TorchGenerator(seed)})
 * @param guidanceScale classifier-free guidance scale; values ≤ 1 disable guidance (diffusers)
 * @param clipSkip Automatic1111's "Clip skip" N, {@code hidden_states[-N]} of the text encoders (1 = the last
 *     layer, 2 = the penultimate, ... 12), or {@link GenerationLimits#FAMILY_DEFAULT_CLIP_SKIP} (0): the model
 *     family's default, 1 for SD 1.x/2.x and 2 for SDXL ({@link org.diffusionbot.common.ModelFamily#defaultClipSkip};
 *     {@link TextConditioner#clipSkip} resolves it)
 * @param width image width in pixels
 * @param height image height in pixels
 * @param steps inference steps
 * @param sampler the sampler
 * @param initImage PNG/JPEG bytes for img2img, or null
 * @param strength img2img strength in (0, 1], null exactly when initImage is null
 * @param guidanceRescale φ of diffusers' {@code guidance_rescale} ({@code rescale_noise_cfg}, for
 *     zero-terminal-SNR models), 0..1; 0 = plain classifier-free guidance
 * @param schedule the sampler's noise schedule ({@link Schedule#DEFAULT}: the scheduler class's
 *     own); one the sampler does not take ({@link Sampler#supports}) is refused
 */
public record GenerationRequest(
        String prompt,
        String negativePrompt,
        List<Long> seeds,
        double guidanceScale,
        int clipSkip,
        int width,
        int height,
        int steps,
        Sampler sampler,
        byte[] initImage,
        Double strength,
        double guidanceRescale,
        Schedule schedule) {

    /** A request with the default schedule. */
    public GenerationRequest(String prompt, String negativePrompt, List<Long> seeds, double guidanceScale, int clipSkip,
            int width, int height, int steps, Sampler sampler, byte[] initImage, Double strength,
            double guidanceRescale) {
        this(prompt, negativePrompt, seeds, guidanceScale, clipSkip, width, height, steps, sampler, initImage, strength,
                guidanceRescale, Schedule.DEFAULT);
    }

    /** A request with plain classifier-free guidance (guidance rescale 0). */
    public GenerationRequest(String prompt, String negativePrompt, List<Long> seeds, double guidanceScale, int clipSkip,
            int width, int height, int steps, Sampler sampler, byte[] initImage, Double strength) {
        this(prompt, negativePrompt, seeds, guidanceScale, clipSkip, width, height, steps, sampler, initImage, strength, 0);
    }

    /** Validates with {@link GenerationLimits}. */
    public GenerationRequest {
        Objects.requireNonNull(prompt, "prompt");
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        seeds = List.copyOf(seeds);
        if (seeds.isEmpty()) {
            throw new IllegalArgumentException("a request needs at least one seed");
        }
        seeds.forEach(GenerationLimits::checkSeed);
        GenerationLimits.checkCfg(guidanceScale);
        GenerationLimits.checkJobClipSkip(clipSkip);
        GenerationLimits.checkSize(width, height);
        Objects.requireNonNull(sampler, "sampler");
        GenerationLimits.checkSteps(sampler, steps);
        if ((initImage == null) != (strength == null)) {
            throw new IllegalArgumentException("initImage and strength must be given together");
        }
        if (strength != null) {
            GenerationLimits.checkStrength(strength);
        }
        GenerationLimits.checkGuidanceRescale(guidanceRescale);
        schedule = schedule == null ? Schedule.DEFAULT : schedule;
        sampler.scheduleWith(schedule);
    }

    /** The same request with guidance rescale φ. */
    public GenerationRequest withGuidanceRescale(double phi) {
        return new GenerationRequest(prompt, negativePrompt, seeds, guidanceScale, clipSkip, width, height, steps, sampler,
                initImage, strength, phi, schedule);
    }

    /** A txt2img request with no negative prompt, cfg 7, the model family's clip skip. */
    public static GenerationRequest of(String prompt, int width, int height, int steps, Sampler sampler, long seed) {
        return new GenerationRequest(prompt, "", List.of(seed), GenerationLimits.DEFAULT_CFG,
                GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP, width, height, steps,
                sampler, null, null);
    }

    public GenerationRequest withNegativePrompt(String negative) {
        return new GenerationRequest(prompt, negative, seeds, guidanceScale, clipSkip, width, height, steps, sampler,
                initImage, strength, guidanceRescale, schedule);
    }

    public GenerationRequest withSeeds(List<Long> newSeeds) {
        return new GenerationRequest(prompt, negativePrompt, newSeeds, guidanceScale, clipSkip, width, height, steps,
                sampler, initImage, strength, guidanceRescale, schedule);
    }

    public GenerationRequest withGuidanceScale(double cfg) {
        return new GenerationRequest(prompt, negativePrompt, seeds, cfg, clipSkip, width, height, steps, sampler,
                initImage, strength, guidanceRescale, schedule);
    }

    public GenerationRequest withClipSkip(int skip) {
        return new GenerationRequest(prompt, negativePrompt, seeds, guidanceScale, skip, width, height, steps, sampler,
                initImage, strength, guidanceRescale, schedule);
    }

    /** An img2img request: {@code image} is PNG or JPEG bytes. */
    public GenerationRequest withInitImage(byte[] image, double imageStrength) {
        return new GenerationRequest(prompt, negativePrompt, seeds, guidanceScale, clipSkip, width, height, steps,
                sampler, image, imageStrength, guidanceRescale, schedule);
    }

    /** The same request with another schedule. */
    public GenerationRequest withSchedule(Schedule s) {
        return new GenerationRequest(prompt, negativePrompt, seeds, guidanceScale, clipSkip, width, height, steps, sampler,
                initImage, strength, guidanceRescale, s);
    }
}
