package org.diffusionbot.bot.service;

import java.time.Instant;

/**
 * Where a request came from, so that its progress and outcome can be shown there: the channel, and the
 * interaction's application id and token with the instant the token stops working (Discord: 15 minutes).
 */
public record Origin(long channelId, long applicationId, String token, Instant tokenExpiresAt) {
}
