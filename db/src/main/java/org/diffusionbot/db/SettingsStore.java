package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * What users and admins configure: per-user defaults ({@code /settings}), per-server settings, role quotas,
 * bans and the pause switch ({@code /admin}). Values are validated by the caller (GenerationLimits) and by
 * the table constraints.
 */
public final class SettingsStore {
    private final DataSource ds;

    public SettingsStore(DataSource ds) {
        this.ds = ds;
    }

    public UserSettings userSettings(long userId) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    SELECT s.sampler, s.steps, s.cfg, s.width, s.height, s.negative_prompt, u.gallery_public
                      FROM users u LEFT JOIN user_settings s ON s.user_id = u.id WHERE u.id = ?""")) {
                ps.setLong(1, userId);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return UserSettings.NONE;
                    }
                    return new UserSettings(rs.getString(1), (Integer) rs.getObject(2), (Double) rs.getObject(3),
                            (Integer) rs.getObject(4), (Integer) rs.getObject(5), rs.getString(6), rs.getBoolean(7));
                }
            }
        });
    }

    /**
     * {@link #paused}, {@link #userSettings}, {@link #guildDefaultNegative} and {@link #policyFor} in one
     * statement: what every submission reads before it is charged.
     */
    public SubmissionContext forSubmission(long userId, Long guildId, Collection<Long> roleIds, QuotaPolicy dflt) {
        return Tx.read(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    SELECT (SELECT paused FROM bot_state LIMIT 1),
                           s.sampler, s.steps, s.cfg, s.width, s.height, s.negative_prompt, u.gallery_public, u.id,
                           (SELECT default_negative FROM guild_settings WHERE guild_id = ?),
                           (SELECT max(daily_limit) FROM role_quotas WHERE guild_id = ? AND role_id = ANY (?)),
                           (SELECT max(max_active) FROM role_quotas WHERE guild_id = ? AND role_id = ANY (?))
                      FROM (SELECT 1) AS one
                      LEFT JOIN users u ON u.id = ?
                      LEFT JOIN user_settings s ON s.user_id = u.id""")) {
                java.sql.Array roles = c.createArrayOf("bigint", guildId == null ? new Object[0] : roleIds.toArray());
                Sql.setNullableLong(ps, 1, guildId);
                Sql.setNullableLong(ps, 2, guildId);
                ps.setArray(3, roles);
                Sql.setNullableLong(ps, 4, guildId);
                ps.setArray(5, roles);
                ps.setLong(6, userId);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    UserSettings user = rs.getObject(9) == null ? UserSettings.NONE
                            : new UserSettings(rs.getString(2), (Integer) rs.getObject(3), (Double) rs.getObject(4),
                                    (Integer) rs.getObject(5), (Integer) rs.getObject(6), rs.getString(7),
                                    rs.getBoolean(8));
                    Integer daily = (Integer) rs.getObject(11);
                    Integer active = (Integer) rs.getObject(12);
                    return new SubmissionContext(rs.getBoolean(1), user, rs.getString(10), new QuotaPolicy(
                            daily == null ? dflt.dailyImages() : daily, active == null ? dflt.maxActive() : active));
                }
            }
        });
    }

    /** Replaces the user's defaults (null fields: the bot's defaults) and gallery choice. */
    public void saveUserSettings(long userId, String userName, UserSettings s) {
        Tx.run(ds, c -> {
            Sql.upsertUser(c, userId, userName);
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO user_settings (user_id, sampler, steps, cfg, width, height, negative_prompt)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET sampler = EXCLUDED.sampler, steps = EXCLUDED.steps,
                        cfg = EXCLUDED.cfg, width = EXCLUDED.width, height = EXCLUDED.height,
                        negative_prompt = EXCLUDED.negative_prompt, updated_at = now()""")) {
                ps.setLong(1, userId);
                ps.setString(2, s.sampler());
                Sql.setNullableInt(ps, 3, s.steps());
                if (s.cfg() == null) {
                    ps.setNull(4, Types.DOUBLE);
                } else {
                    ps.setDouble(4, s.cfg());
                }
                Sql.setNullableInt(ps, 5, s.width());
                Sql.setNullableInt(ps, 6, s.height());
                ps.setString(7, s.negativePrompt());
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE users SET gallery_public = ?, updated_at = now() WHERE id = ?")) {
                ps.setBoolean(1, s.galleryPublic());
                ps.setLong(2, userId);
                return ps.executeUpdate();
            }
        });
    }

    public Optional<String> guildDefaultNegative(long guildId) {
        return Optional.ofNullable(Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT default_negative FROM guild_settings WHERE guild_id = ?")) {
                ps.setLong(1, guildId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? rs.getString(1) : null;
                }
            }
        }));
    }

    /** Sets (or with null clears) the server's default negative prompt. */
    public void setGuildDefaultNegative(long guildId, String negative, long adminId) {
        Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO guild_settings (guild_id, default_negative, updated_by) VALUES (?, ?, ?)
                    ON CONFLICT (guild_id) DO UPDATE SET default_negative = EXCLUDED.default_negative,
                        updated_by = EXCLUDED.updated_by, updated_at = now()""")) {
                ps.setLong(1, guildId);
                ps.setString(2, negative);
                ps.setLong(3, adminId);
                return ps.executeUpdate();
            }
        });
    }

    /** Sets a role's quota; both limits null removes it. */
    public void setRoleQuota(long guildId, long roleId, Integer dailyLimit, Integer maxActive, long adminId) {
        Tx.run(ds, c -> {
            if (dailyLimit == null && maxActive == null) {
                try (PreparedStatement ps = c.prepareStatement(
                        "DELETE FROM role_quotas WHERE guild_id = ? AND role_id = ?")) {
                    ps.setLong(1, guildId);
                    ps.setLong(2, roleId);
                    return ps.executeUpdate();
                }
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO role_quotas (guild_id, role_id, daily_limit, max_active, updated_by) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (guild_id, role_id) DO UPDATE SET daily_limit = EXCLUDED.daily_limit,
                        max_active = EXCLUDED.max_active, updated_by = EXCLUDED.updated_by, updated_at = now()""")) {
                ps.setLong(1, guildId);
                ps.setLong(2, roleId);
                Sql.setNullableInt(ps, 3, dailyLimit);
                Sql.setNullableInt(ps, 4, maxActive);
                ps.setLong(5, adminId);
                return ps.executeUpdate();
            }
        });
    }

    /** The quotas of those of {@code roleIds} that have one in this server. */
    public List<RoleQuota> roleQuotas(long guildId, Collection<Long> roleIds) {
        if (roleIds.isEmpty()) {
            return List.of();
        }
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    SELECT role_id, daily_limit, max_active FROM role_quotas
                     WHERE guild_id = ? AND role_id = ANY (?)""")) {
                ps.setLong(1, guildId);
                ps.setArray(2, c.createArrayOf("bigint", roleIds.toArray()));
                List<RoleQuota> out = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(new RoleQuota(guildId, rs.getLong(1), (Integer) rs.getObject(2),
                                (Integer) rs.getObject(3)));
                    }
                }
                return out;
            }
        });
    }

    /**
     * The policy for a member: for each limit, the most generous of their roles' quotas that set it, else the
     * default. (A per-user override still wins inside {@link JobStore}.)
     */
    public QuotaPolicy policyFor(Long guildId, Collection<Long> roleIds, QuotaPolicy dflt) {
        if (guildId == null || roleIds.isEmpty()) {
            return dflt;
        }
        Integer daily = null;
        Integer active = null;
        for (RoleQuota q : roleQuotas(guildId, roleIds)) {
            if (q.dailyLimit() != null) {
                daily = daily == null ? q.dailyLimit() : Math.max(daily, q.dailyLimit());
            }
            if (q.maxActive() != null) {
                active = active == null ? q.maxActive() : Math.max(active, q.maxActive());
            }
        }
        return new QuotaPolicy(daily == null ? dflt.dailyImages() : daily, active == null ? dflt.maxActive() : active);
    }

    /** Bans or unbans a user; returns whether that changed anything. */
    public boolean setBanned(long userId, String userName, boolean banned) {
        return Tx.run(ds, c -> {
            Sql.upsertUser(c, userId, userName);
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE users SET banned = ?, updated_at = now() WHERE id = ? AND banned <> ?")) {
                ps.setBoolean(1, banned);
                ps.setLong(2, userId);
                ps.setBoolean(3, banned);
                return ps.executeUpdate() == 1;
            }
        });
    }

    public boolean banned(long userId) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT banned FROM users WHERE id = ?")) {
                ps.setLong(1, userId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() && rs.getBoolean(1);
                }
            }
        });
    }

    public boolean paused() {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT paused FROM bot_state")) {
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() && rs.getBoolean(1);
                }
            }
        });
    }

    /** Pauses or resumes; returns whether that changed anything. */
    public boolean setPaused(boolean paused, long adminId) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE bot_state SET paused = ?, paused_by = ?, updated_at = now() WHERE paused <> ?")) {
                ps.setBoolean(1, paused);
                ps.setLong(2, adminId);
                ps.setBoolean(3, paused);
                return ps.executeUpdate() == 1;
            }
        });
    }
}
