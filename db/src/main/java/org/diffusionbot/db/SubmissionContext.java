package org.diffusionbot.db;

/**
 * What a submission reads before it is charged, in one round trip: whether the bot is paused, the user's
 * defaults, the server's default negative prompt (null: none), the member's quota policy (their roles'
 * most generous quotas, else the default) and the server's limit of LoRAs per prompt (null: none set).
 */
public record SubmissionContext(boolean paused, UserSettings user, String guildNegative, QuotaPolicy policy,
        Integer guildMaxLoras) {
    /** Without a LoRA limit. */
    public SubmissionContext(boolean paused, UserSettings user, String guildNegative, QuotaPolicy policy) {
        this(paused, user, guildNegative, policy, null);
    }
}
