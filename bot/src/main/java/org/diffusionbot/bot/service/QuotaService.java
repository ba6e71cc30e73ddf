package org.diffusionbot.bot.service;

import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.db.QuotaStatus;
import org.diffusionbot.db.QuotaStore;
import org.diffusionbot.db.SettingsStore;

/**
 * The quota policy, in one place: the bot's default allowance ({@code DAILY_IMAGE_LIMIT}, {@code MAX_ACTIVE_JOBS}),
 * raised per limit by the member's most generous role quota ({@code /admin quota role}), and overridden per user
 * ({@code /admin quota user}, applied by {@link QuotaStore} in the very statement that charges).
 */
public final class QuotaService {
    private final QuotaPolicy defaults;
    private final SettingsStore settings;
    private final QuotaStore quotas;

    public QuotaService(QuotaPolicy defaults, SettingsStore settings, QuotaStore quotas) {
        this.defaults = defaults;
        this.settings = settings;
        this.quotas = quotas;
    }

    /** The bot's default allowance (what a member without role quotas gets). */
    public QuotaPolicy defaults() {
        return defaults;
    }

    /** The member's policy: their roles' most generous quotas, else the default. Reads the database. */
    public QuotaPolicy policyFor(Caller caller) {
        return settings.policyFor(caller.guildId(), caller.roleIds(), defaults);
    }

    /** {@code /quota}: where the member stands today. */
    public QuotaStatus status(Caller caller) {
        return quotas.status(caller.userId(), policyFor(caller));
    }
}
