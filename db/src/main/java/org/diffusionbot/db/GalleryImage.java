package org.diffusionbot.db;

import java.time.Instant;
import java.util.UUID;

/**
 * One visible image with everything its page shows: the job's parameters, this image's seed and size,
 * the author, and the image it was made from (null when none, or when that one is not visible).
 *
 * @param clipSkip the job's clip skip in Automatic1111's numbering (1..12), or 0: none chosen or the model family's
 *     default chosen (SD 1.x/2.x 1, SDXL 2), the worker running that default (V15 made the older rows' 1 this 0)
 * @param parameters the Automatic1111 parameters text stored with the image
 * @param schedule the job's schedule id, or null (jobs made before it was recorded: the default)
 */
public record GalleryImage(long id, UUID jobId, int index, Instant createdAt, long userId, String userName,
        String kind, String prompt, String negativePrompt, String model, String sampler, int steps, double cfg,
        long seed, int width, int height, int clipSkip, Double strength, Long parentImageId, String parameters,
        String schedule) {
}
