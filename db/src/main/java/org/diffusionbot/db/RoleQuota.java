package org.diffusionbot.db;

/** The quota of members with one role in one server; null limits mean the bot's default. */
public record RoleQuota(long guildId, long roleId, Integer dailyLimit, Integer maxActive) {
}
