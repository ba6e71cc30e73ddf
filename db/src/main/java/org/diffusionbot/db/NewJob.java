package org.diffusionbot.db;

import java.time.Instant;
import org.diffusionbot.common.messages.JobRequest;

/**
 * A job about to be submitted: the request that will be published, who asked, and where the answer goes.
 *
 * @param kind           imagine, reroll, variation or upscale
 * @param parentImageId  the image a variation or upscale starts from, or null
 * @param interactionToken the Discord interaction whose original response shows progress, or null
 */
public record NewJob(
        JobRequest request,
        long userId,
        String userName,
        Long guildId,
        long channelId,
        String kind,
        Long parentImageId,
        Long applicationId,
        String interactionToken,
        Instant tokenExpiresAt) {
}
