package org.diffusionbot.db;

import java.time.Instant;
import java.util.UUID;

/**
 * A row of {@code jobs}, as the bot needs it to answer the user.
 *
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
