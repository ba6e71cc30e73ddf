package org.diffusionbot.worker.engine.pipeline;

import org.diffusionbot.common.LoraTags;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * The one rule for what can run together: requests (jobs) of one model with equal keys share a batch,
 * and each gets the image it would get alone, whatever it is batched with.
 *
 * <p>{@link #sameRun} is the part one UNet run cannot do without (the pipeline refuses a batch that
 * breaks it): the same latent size, steps, sampler, schedule and img2img strength (null: txt2img).
 * The rest keeps each image as it would be alone: the same LoRA set ({@link LoraTags#set} of prompt
 * and negative prompt: names and summed weights, since the model is patched once per batch; a pipeline
 * batch with two sets fails every request) and the same number of 75-token prompt chunks (the batch
 * pads every prompt to its longest, which changes a shorter prompt's image). The worker's batcher
 * compares whole keys; prompts, negative prompts, seeds, guidance, clip skip and init images may differ.
 *
 * @param width image width in pixels
 * @param height image height in pixels
 * @param steps inference steps
 * @param sampler the sampler
 * @param schedule the noise schedule
 * @param strength img2img strength, null for txt2img
 * @param loras the LoRA set (a map), or for prompts whose tags do not parse a value equal to no other
 *     key's (such a request fails, alone)
 * @param promptChunks 75-token chunks of the longer of prompt and negative prompt ({@link
 *     StableDiffusionPipeline#promptChunks}); -1 when they could not be counted
 */
public record BatchKey(int width, int height, int steps, Sampler sampler, Schedule schedule, Double strength,
        Object loras, int promptChunks) {

    /** The key of a request whose prompts encode to {@code promptChunks} chunks. */
    public static BatchKey of(GenerationRequest r, int promptChunks) {
        return new BatchKey(r.width(), r.height(), r.steps(), r.sampler(), r.schedule(), r.strength(),
                loraSet(r.prompt(), r.negativePrompt()), promptChunks);
    }

    /** A key equal to no other: for a job that cannot even be described, which then runs (and fails) alone. */
    public static BatchKey alone() {
        return new BatchKey(0, 0, 0, null, null, null, new Object(), -1);
    }

    /** Whether both can be one UNet run at all: size, steps, sampler, schedule and strength equal. */
    public boolean sameRun(BatchKey o) {
        return width == o.width && height == o.height && steps == o.steps && sampler == o.sampler
                && schedule == o.schedule && java.util.Objects.equals(strength, o.strength);
    }

    /** The LoRA set of a prompt pair ({@link LoraTags#set}), or a new object when the tags do not parse. */
    static Object loraSet(String prompt, String negativePrompt) {
        try {
            return LoraTags.set(prompt, negativePrompt);
        } catch (IllegalArgumentException e) {
            return new Object();
        }
    }
}
