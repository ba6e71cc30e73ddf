package org.diffusionbot.bot.service;

import java.time.Instant;

/**
 * Where a request came from, so that its progress and outcome can be shown there: the channel, and the
 * interaction's application id and token with the instant the token stops working (Discord: 15 minutes).
 *
 * @param ageRestricted the channel is age-restricted (Discord's channel field {@code nsfw}, the "Age-Restricted
 *     Channel" setting), as the interaction itself said; false in direct messages and threads
 */
public record Origin(long channelId, long applicationId, String token, Instant tokenExpiresAt,
        boolean ageRestricted) {
}
