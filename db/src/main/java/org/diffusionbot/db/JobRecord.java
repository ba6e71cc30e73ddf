package org.diffusionbot.db;

import java.time.Instant;
import java.util.UUID;

/**
 * A row of {@code jobs}, as the bot needs it to answer the user.
 *
 * @param clipSkip the job's clip skip in Automatic1111's numbering (1..12), or 0: none chosen or the model family's
 *     default chosen (SD 1.x/2.x 1, SDXL 2), the worker running that default (V15 made the older rows' 1 this 0)
 * @param ageRestricted the job came from an age-restricted channel (its images are not checked)
 * @param schedule the sampler's schedule id ({@code default}, {@code karras}, ...); null for jobs made
 *     before it was recorded (they ran the default)
 */
public record JobRecord(
        UUID id,
        long userId,
        Long guildId,
        long channelId,
        String kind,
        String model,
        String prompt,
        String negativePrompt,
        int width,
        int height,
        int steps,
        double cfg,
        String sampler,
        long seed,
        int imageCount,
        int clipSkip,
        Double strength,
        JobState state,
        int quotaCharged,
        int attempts,
        String workerId,
        String error,
        Long applicationId,
        String interactionToken,
        Instant tokenExpiresAt,
        Instant createdAt,
        Instant startedAt,
        Instant finishedAt,
        Instant deliveredAt,
        boolean ageRestricted,
        String schedule) {
}
