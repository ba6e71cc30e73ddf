package org.diffusionbot.bot.service;

import org.diffusionbot.db.QuotaStore;
import org.diffusionbot.db.SettingsStore;
import org.diffusionbot.db.UserStore;

/**
 * {@code /admin}'s actions. The caller (the Discord adapter) has checked that the member is an admin, from the
 * interaction itself; the values are checked by it too (ranges, prompt limits).
 */
public final class AdminService {
    private final SettingsStore settings;
    private final UserStore users;
    private final QuotaStore quotas;

    public AdminService(SettingsStore settings, UserStore users, QuotaStore quotas) {
        this.settings = settings;
        this.users = users;
        this.quotas = quotas;
    }

    public boolean paused() {
        return settings.paused();
    }

    /** Pauses or resumes taking new jobs; returns whether that changed anything. */
    public boolean setPaused(boolean paused, long adminId) {
        return settings.setPaused(paused, adminId);
    }

    /** Bans or unbans a user; returns whether that changed anything. */
    public boolean setBanned(long userId, String userName, boolean banned) {
        return users.setBanned(userId, userName, banned);
    }

    /** A user's own limits (null: the policy's). */
    public void setUserQuota(long userId, String userName, Integer daily, Integer active) {
        quotas.setOverride(userId, userName, daily, active);
    }

    /** A role's quota in a server (both null: none). */
    public void setRoleQuota(long guildId, long roleId, Integer daily, Integer active, long adminId) {
        settings.setRoleQuota(guildId, roleId, daily, active, adminId);
    }

    /**
     * The server's limit of LoRAs per prompt (null: back to {@link LoraService#DEFAULT_MAX_LORAS}; 0 turns LoRAs off).
     *
     * @throws IllegalArgumentException outside 0 to {@link LoraService#MAX_LORAS_LIMIT}
     */
    public void setGuildMaxLoras(long guildId, Integer maxLoras, long adminId) {
        if (maxLoras != null && (maxLoras < 0 || maxLoras > LoraService.MAX_LORAS_LIMIT)) {
            throw new IllegalArgumentException("max must be between 0 and " + LoraService.MAX_LORAS_LIMIT + ", got "
                    + maxLoras);
        }
        settings.setGuildMaxLoras(guildId, maxLoras, adminId);
    }

    /** The server's limit of LoRAs per prompt ({@link LoraService#DEFAULT_MAX_LORAS} when none is set). */
    public int guildMaxLoras(long guildId) {
        return settings.guildMaxLoras(guildId).orElse(LoraService.DEFAULT_MAX_LORAS);
    }

    /** The server's default negative prompt (null: none). */
    public void setGuildNegative(long guildId, String negative, long adminId) {
        settings.setGuildDefaultNegative(guildId, negative, adminId);
    }
}
