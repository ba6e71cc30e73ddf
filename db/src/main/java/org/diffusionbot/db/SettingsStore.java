package org.diffusionbot.db;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Collection;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * What users and admins configure: per-user defaults ({@code /settings}), per-server settings, role quotas and the
 * pause switch ({@code /admin}). Values are validated by the caller (GenerationLimits) and by the table constraints.
 * (Bans are the users' concern: {@link UserStore}.)
 */
public final class SettingsStore {
    private final Jdbc jdbc;

    public SettingsStore(DataSource ds) {
        this.jdbc = new Jdbc(ds);
    }

    /** For each limit, the most generous quota among the member's roles that set it (two columns; null: none). */
    private static final String ROLE_POLICY_COLUMNS = """
            (SELECT max(daily_limit) FROM role_quotas WHERE guild_id = ? AND role_id = ANY (?)) AS role_daily,
            (SELECT max(max_active) FROM role_quotas WHERE guild_id = ? AND role_id = ANY (?)) AS role_active""";

    /** The four parameters of {@link #ROLE_POLICY_COLUMNS}. */
    private static Object[] rolePolicyArgs(Long guildId, Collection<Long> roleIds) {
        Jdbc.SqlArray roles = Jdbc.array("bigint", guildId == null ? java.util.List.of() : roleIds);
        return new Object[] {guildId, roles, guildId, roles};
    }

    /** The policy from the two {@link #ROLE_POLICY_COLUMNS}: each limit the roles set, else the default. */
    private static QuotaPolicy rolePolicy(ResultSet rs, QuotaPolicy dflt) throws SQLException {
        Integer daily = (Integer) rs.getObject("role_daily");
        Integer active = (Integer) rs.getObject("role_active");
        return new QuotaPolicy(daily == null ? dflt.dailyImages() : daily, active == null ? dflt.maxActive() : active);
    }

    public UserSettings userSettings(long userId) {
        return jdbc.one("SELECT " + Rows.USER_SETTINGS_COLUMNS
                + " FROM users u LEFT JOIN user_settings s ON s.user_id = u.id WHERE u.id = ?", Rows.USER_SETTINGS,
                userId).orElse(UserSettings.NONE);
    }

    /**
     * {@link #paused}, {@link #userSettings}, {@link #guildDefaultNegative}, {@link #policyFor}, {@link
     * #guildMaxLoras} and the server's {@link ModerationStore#settings moderation settings} in one statement: what every
     * submission reads before it is charged.
     */
    public SubmissionContext forSubmission(long userId, Long guildId, Collection<Long> roleIds, QuotaPolicy dflt) {
        Object[] role = rolePolicyArgs(guildId, roleIds);
        Object[] mod = ModerationStore.settingsArgs(guildId);
        return jdbc.one("SELECT (SELECT paused FROM bot_state LIMIT 1) AS paused, " + Rows.USER_SETTINGS_COLUMNS
                + ", u.id AS known_user, (SELECT default_negative FROM guild_settings WHERE guild_id = ?) AS guild_negative, "
                + "(SELECT max_loras FROM guild_settings WHERE guild_id = ?) AS guild_max_loras, "
                + ROLE_POLICY_COLUMNS + ", " + ModerationStore.SETTINGS_COLUMNS + """

                  FROM (SELECT 1) AS one
                  LEFT JOIN users u ON u.id = ?
                  LEFT JOIN user_settings s ON s.user_id = u.id""",
                rs -> new SubmissionContext(rs.getBoolean("paused"),
                        rs.getObject("known_user") == null ? UserSettings.NONE : Rows.USER_SETTINGS.map(rs),
                        rs.getString("guild_negative"), rolePolicy(rs, dflt), ModerationStore.settingsOf(rs),
                        (Integer) rs.getObject("guild_max_loras")),
                guildId, guildId, role[0], role[1], role[2], role[3], mod[0], mod[1], mod[2], mod[3], userId)
                .orElseThrow();
    }

    /** Replaces the user's defaults (null fields: the bot's defaults) and gallery choice. */
    public void saveUserSettings(long userId, String userName, UserSettings s) {
        jdbc.tx(c -> {
            UserStore.upsert(c, userId, userName);
            Jdbc.update(c, """
                    INSERT INTO user_settings (user_id, sampler, steps, cfg, width, height, negative_prompt, schedule,
                        guidance_rescale, clip_skip)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET sampler = EXCLUDED.sampler, steps = EXCLUDED.steps,
                        cfg = EXCLUDED.cfg, width = EXCLUDED.width, height = EXCLUDED.height,
                        negative_prompt = EXCLUDED.negative_prompt, schedule = EXCLUDED.schedule,
                        guidance_rescale = EXCLUDED.guidance_rescale,
                        clip_skip = EXCLUDED.clip_skip, updated_at = now()""",
                    userId, s.sampler(), s.steps(), s.cfg(), s.width(), s.height(), s.negativePrompt(), s.schedule(),
                    s.guidanceRescale(), s.clipSkip());
            return Jdbc.update(c, "UPDATE users SET gallery_public = ?, updated_at = now() WHERE id = ?",
                    s.galleryPublic(), userId);
        });
    }

    public Optional<String> guildDefaultNegative(long guildId) {
        return jdbc.one("SELECT default_negative FROM guild_settings WHERE guild_id = ?", rs -> rs.getString(1), guildId);
    }

    /** Sets (or with null clears) the server's default negative prompt. */
    public void setGuildDefaultNegative(long guildId, String negative, long adminId) {
        jdbc.update("""
                INSERT INTO guild_settings (guild_id, default_negative, updated_by) VALUES (?, ?, ?)
                ON CONFLICT (guild_id) DO UPDATE SET default_negative = EXCLUDED.default_negative,
                    updated_by = EXCLUDED.updated_by, updated_at = now()""", guildId, negative, adminId);
    }

    /** The server's limit of LoRAs per prompt, if an admin set one. */
    public Optional<Integer> guildMaxLoras(long guildId) {
        return jdbc.one("SELECT max_loras FROM guild_settings WHERE guild_id = ? AND max_loras IS NOT NULL",
                rs -> rs.getInt(1), guildId);
    }

    /** Sets (or with null clears: the bot's default) the server's limit of LoRAs per prompt (0 to 20). */
    public void setGuildMaxLoras(long guildId, Integer maxLoras, long adminId) {
        jdbc.update("""
                INSERT INTO guild_settings (guild_id, max_loras, updated_by) VALUES (?, ?, ?)
                ON CONFLICT (guild_id) DO UPDATE SET max_loras = EXCLUDED.max_loras,
                    updated_by = EXCLUDED.updated_by, updated_at = now()""", guildId, maxLoras, adminId);
    }

    /** Sets a role's quota; both limits null removes it. */
    public void setRoleQuota(long guildId, long roleId, Integer dailyLimit, Integer maxActive, long adminId) {
        if (dailyLimit == null && maxActive == null) {
            jdbc.update("DELETE FROM role_quotas WHERE guild_id = ? AND role_id = ?", guildId, roleId);
            return;
        }
        jdbc.update("""
                INSERT INTO role_quotas (guild_id, role_id, daily_limit, max_active, updated_by) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (guild_id, role_id) DO UPDATE SET daily_limit = EXCLUDED.daily_limit,
                    max_active = EXCLUDED.max_active, updated_by = EXCLUDED.updated_by, updated_at = now()""",
                guildId, roleId, dailyLimit, maxActive, adminId);
    }

    /**
     * The policy for a member: for each limit, the most generous of their roles' quotas that set it, else the
     * default. (A per-user override still wins inside {@link QuotaStore}.)
     */
    public QuotaPolicy policyFor(Long guildId, Collection<Long> roleIds, QuotaPolicy dflt) {
        if (guildId == null || roleIds.isEmpty()) {
            return dflt;
        }
        return jdbc.one("SELECT " + ROLE_POLICY_COLUMNS, rs -> rolePolicy(rs, dflt), rolePolicyArgs(guildId, roleIds))
                .orElseThrow();
    }

    public boolean paused() {
        return jdbc.one("SELECT paused FROM bot_state", rs -> rs.getBoolean(1)).orElse(false);
    }

    /** Pauses or resumes; returns whether that changed anything. */
    public boolean setPaused(boolean paused, long adminId) {
        return jdbc.update("UPDATE bot_state SET paused = ?, paused_by = ?, updated_at = now() WHERE paused <> ?",
                paused, adminId, paused) == 1;
    }
}
