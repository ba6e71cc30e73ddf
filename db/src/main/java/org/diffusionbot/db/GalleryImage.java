package org.diffusionbot.db;

import java.time.Instant;
import java.util.UUID;

/**
 * One visible image with everything its page shows: the job's parameters, this image's seed and size,
 * the author, and the image it was made from (null when none, or when that one is not visible).
 *
 * @param parameters the Automatic1111 parameters text stored with the image
 * @param schedule the job's schedule id, or null (jobs made before it was recorded: the default)
 */
public record GalleryImage(long id, UUID jobId, int index, Instant createdAt, long userId, String userName,
        String kind, String prompt, String negativePrompt, String model, String sampler, int steps, double cfg,
        long seed, int width, int height, int clipSkip, Double strength, Long parentImageId, String parameters,
        String schedule) {
}
