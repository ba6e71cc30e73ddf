package org.diffusionbot.db;

/**
 * What a submission reads before it is charged, in one round trip: whether the bot is paused, the user's
 * defaults, the server's default negative prompt (null: none), the member's quota policy (their roles'
 * most generous quotas, else the default) and the server's moderation settings and blocked terms (the defaults in
 * direct messages).
 */
public record SubmissionContext(boolean paused, UserSettings user, String guildNegative, QuotaPolicy policy,
        ModerationStore.Settings moderation) {
}
