package org.diffusionbot.db;

import java.time.Instant;
import org.diffusionbot.common.messages.JobRequest;

/**
 * A job about to be submitted: the request that will be published, who asked, and where the answer goes.
 *
 * @param kind           imagine, reroll, variation or upscale
 * @param parentImageId  the image a variation or upscale starts from, or null
 * @param interactionToken the Discord interaction whose original response shows progress, or null
 * @param charge         images of the daily allowance the job is charged (and refunded if it fails): at least its
 *                       image count (more where the model's family weighs more, {@code QUOTA_WEIGHTS})
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
        Instant tokenExpiresAt,
        int charge) {

    public NewJob {
        if (charge < request.count()) {
            throw new IllegalArgumentException("a job of " + request.count() + " image(s) is charged at least as many,"
                    + " not " + charge);
        }
    }

    /** A job charged one image of the allowance per image. */
    public NewJob(JobRequest request, long userId, String userName, Long guildId, long channelId, String kind,
            Long parentImageId, Long applicationId, String interactionToken, Instant tokenExpiresAt) {
        this(request, userId, userName, guildId, channelId, kind, parentImageId, applicationId, interactionToken,
                tokenExpiresAt, request.count());
    }

    /** This job charged {@code images} images of the allowance. */
    public NewJob withCharge(int images) {
        return new NewJob(request, userId, userName, guildId, channelId, kind, parentImageId, applicationId,
                interactionToken, tokenExpiresAt, images);
    }
}
