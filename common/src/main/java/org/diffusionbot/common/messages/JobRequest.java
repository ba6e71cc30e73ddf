package org.diffusionbot.common.messages;

import java.time.Instant;
import java.util.UUID;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.mq.Topology;

/**
 * A generation job, published by the bot to the jobs exchange with the model as routing key.
 * The compact constructor enforces {@link GenerationLimits}, so an invalid job cannot be built,
 * published or consumed.
 *
 * @param clipSkip     Automatic1111's "Clip skip" N ({@code hidden_states[-N]} of the text encoders, 1 = the last
 *                     layer; {@link GenerationLimits#checkClipSkip}), or {@link GenerationLimits#FAMILY_DEFAULT_CLIP_SKIP}
 *                     (0): the model family's default ({@link org.diffusionbot.common.ModelFamily#defaultClipSkip}: 1,
 *                     SDXL 2), which the bot also sends for a chosen clip skip equal to it
 * @param initImage    PNG/JPEG bytes for img2img (variations, upscales), or null for txt2img
 * @param strength     img2img strength in (0, 1]; null exactly when {@code initImage} is null
 * @param previewEvery publish an x0 preview every this many steps; 0 turns previews off
 * @param ageRestricted whether the job's Discord channel is age-restricted ({@link OptionalField}; absent or
 *                     null: false): workers with a safety checker check the images of every other job
 * @param guidanceRescale diffusers' {@code guidance_rescale} φ in [0, 1] ({@link OptionalField}: null
 *                     or absent = 0, plain classifier-free guidance)
 * @param schedule     the sampler's noise schedule ({@link OptionalField}: null or absent = {@link
 *                     Schedule#DEFAULT}); one the sampler does not take ({@link Sampler#supports}) is refused
 */
public record JobRequest(
        UUID jobId,
        String model,
        String prompt,
        String negativePrompt,
        int width,
        int height,
        int steps,
        double cfg,
        Sampler sampler,
        long seed,
        int count,
        int clipSkip,
        byte[] initImage,
        Double strength,
        int previewEvery,
        Instant createdAt,
        @OptionalField Boolean ageRestricted,
        @OptionalField Double guidanceRescale,
        @OptionalField Schedule schedule) implements Message {

    /** Largest init image accepted on the queue (20 MiB). */
    public static final int MAX_INIT_IMAGE_BYTES = 20 << 20;

    public JobRequest {
        Checks.notNull("job_id", jobId);
        Topology.checkModelName(model);
        GenerationLimits.checkPrompt("prompt", prompt, true);
        negativePrompt = GenerationLimits.checkPrompt("negative_prompt", negativePrompt, false);
        GenerationLimits.checkSize(width, height);
        GenerationLimits.checkCfg(cfg);
        Checks.notNull("sampler", sampler);
        GenerationLimits.checkSteps(sampler, steps);
        GenerationLimits.checkSeed(seed);
        GenerationLimits.checkCount(count);
        GenerationLimits.checkJobClipSkip(clipSkip);
        if ((initImage == null) != (strength == null)) {
            throw new IllegalArgumentException("init_image and strength must be given together");
        }
        if (initImage != null) {
            if (initImage.length == 0 || initImage.length > MAX_INIT_IMAGE_BYTES) {
                throw new IllegalArgumentException("init_image must hold 1 to " + MAX_INIT_IMAGE_BYTES + " bytes");
            }
            GenerationLimits.checkStrength(strength);
        }
        Checks.range("preview_every", previewEvery, 0, GenerationLimits.MAX_STEPS);
        Checks.notNull("created_at", createdAt);
        ageRestricted = Boolean.TRUE.equals(ageRestricted);
        if (guidanceRescale != null) {
            GenerationLimits.checkGuidanceRescale(guidanceRescale);
        }
        if (schedule != null) {
            sampler.scheduleWith(schedule);
        }
    }

    /** A job with the default schedule. */
    public JobRequest(UUID jobId, String model, String prompt, String negativePrompt, int width, int height, int steps,
            double cfg, Sampler sampler, long seed, int count, int clipSkip, byte[] initImage, Double strength,
            int previewEvery, Instant createdAt, Boolean ageRestricted, Double guidanceRescale) {
        this(jobId, model, prompt, negativePrompt, width, height, steps, cfg, sampler, seed, count, clipSkip, initImage,
                strength, previewEvery, createdAt, ageRestricted, guidanceRescale, null);
    }

    /** A job from a channel that is not age-restricted. */
    public JobRequest(UUID jobId, String model, String prompt, String negativePrompt, int width, int height, int steps,
            double cfg, Sampler sampler, long seed, int count, int clipSkip, byte[] initImage, Double strength,
            int previewEvery, Instant createdAt) {
        this(jobId, model, prompt, negativePrompt, width, height, steps, cfg, sampler, seed, count, clipSkip, initImage,
                strength, previewEvery, createdAt, false, null);
    }

    /** φ of the guidance rescale (0 when absent). */
    public double guidanceRescaleOrZero() {
        return guidanceRescale == null ? 0 : guidanceRescale;
    }

    /** @return this job, from a channel that is (or is not) age-restricted */
    public JobRequest withAgeRestricted(boolean restricted) {
        return new JobRequest(jobId, model, prompt, negativePrompt, width, height, steps, cfg, sampler, seed, count,
                clipSkip, initImage, strength, previewEvery, createdAt, restricted, guidanceRescale, schedule);
    }

    /** @return this job with that schedule (null: the default) */
    public JobRequest withSchedule(Schedule s) {
        return new JobRequest(jobId, model, prompt, negativePrompt, width, height, steps, cfg, sampler, seed, count,
                clipSkip, initImage, strength, previewEvery, createdAt, ageRestricted, guidanceRescale, s);
    }

    /** The schedule the sampler runs with: {@link Schedule#DEFAULT} when absent. */
    public Schedule scheduleOrDefault() {
        return schedule == null ? Schedule.DEFAULT : schedule;
    }

    /**
     * A new job made from this one's settings, as the buttons under a finished job ask for (reroll, variation,
     * upscale): the arguments are what such a job sets anew; every other field (model, prompts, steps, cfg, sampler,
     * clip skip, guidance rescale, schedule, and any field added later) is carried over unchanged. {@code ageRestricted} is
     * reset to false: it is the channel of the new job's own request to say ({@link #withAgeRestricted}).
     *
     * @throws IllegalArgumentException when the new job breaks a rule of this record (its message names it)
     */
    public JobRequest derive(UUID newJobId, int newWidth, int newHeight, long newSeed, int newCount, byte[] newInitImage,
            Double newStrength, int newPreviewEvery, Instant newCreatedAt) {
        return new JobRequest(newJobId, model, prompt, negativePrompt, newWidth, newHeight, steps, cfg, sampler, newSeed,
                newCount, clipSkip, newInitImage, newStrength, newPreviewEvery, newCreatedAt, false, guidanceRescale,
                schedule);
    }

    /** The seed of image {@code i} of this job: consecutive seeds, as Automatic1111 does for a batch. */
    public long seedOf(int i) {
        return GenerationLimits.seedOf(seed, i);
    }
}
