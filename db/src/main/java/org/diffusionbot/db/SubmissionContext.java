package org.diffusionbot.db;

/**
 * What a submission reads before it is charged, in one round trip: whether the bot is paused, the user's
 * defaults, the server's default negative prompt (null: none), the member's quota policy (their roles'
 * most generous quotas, else the default), the server's moderation settings and blocked terms (the defaults in
 * direct messages) and the server's limit of LoRAs per prompt (null: none set).
 */
public record SubmissionContext(boolean paused, UserSettings user, String guildNegative, QuotaPolicy policy,
        ModerationStore.Settings moderation, Integer guildMaxLoras) {
}
