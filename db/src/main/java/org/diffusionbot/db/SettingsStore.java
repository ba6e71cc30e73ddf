package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.Collection;
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

    /** The columns {@link #userSettings(ResultSet, int)} reads, from {@code users u LEFT JOIN user_settings s}. */
    private static final String USER_SETTINGS_COLUMNS =
            "s.sampler, s.steps, s.cfg, s.width, s.height, s.negative_prompt, u.gallery_public";

    /** For each limit, the most generous quota among the member's roles that set it (two columns; null: none). */
    private static final String ROLE_POLICY_COLUMNS = """
            (SELECT max(daily_limit) FROM role_quotas WHERE guild_id = ? AND role_id = ANY (?)),
            (SELECT max(max_active) FROM role_quotas WHERE guild_id = ? AND role_id = ANY (?))""";

    private static UserSettings userSettings(ResultSet rs, int col) throws SQLException {
        return new UserSettings(rs.getString(col), (Integer) rs.getObject(col + 1), (Double) rs.getObject(col + 2),
                (Integer) rs.getObject(col + 3), (Integer) rs.getObject(col + 4), rs.getString(col + 5),
                rs.getBoolean(col + 6));
    }

    /** Binds the four parameters of {@link #ROLE_POLICY_COLUMNS} from {@code first} on. */
    private static void setRolePolicy(Connection c, PreparedStatement ps, int first, Long guildId,
            Collection<Long> roleIds) throws SQLException {
        java.sql.Array roles = c.createArrayOf("bigint", guildId == null ? new Object[0] : roleIds.toArray());
        Sql.setNullableLong(ps, first, guildId);
        ps.setArray(first + 1, roles);
        Sql.setNullableLong(ps, first + 2, guildId);
        ps.setArray(first + 3, roles);
    }

    /** The policy from the two {@link #ROLE_POLICY_COLUMNS} at {@code col}: each limit the roles set, else the default. */
    private static QuotaPolicy rolePolicy(ResultSet rs, int col, QuotaPolicy dflt) throws SQLException {
        Integer daily = (Integer) rs.getObject(col);
        Integer active = (Integer) rs.getObject(col + 1);
        return new QuotaPolicy(daily == null ? dflt.dailyImages() : daily, active == null ? dflt.maxActive() : active);
    }

    public UserSettings userSettings(long userId) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT " + USER_SETTINGS_COLUMNS
                    + " FROM users u LEFT JOIN user_settings s ON s.user_id = u.id WHERE u.id = ?")) {
                ps.setLong(1, userId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? userSettings(rs, 1) : UserSettings.NONE;
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
            try (PreparedStatement ps = c.prepareStatement("SELECT (SELECT paused FROM bot_state LIMIT 1), "
                    + USER_SETTINGS_COLUMNS + ", u.id, (SELECT default_negative FROM guild_settings WHERE guild_id = ?), "
                    + ROLE_POLICY_COLUMNS + """

                      FROM (SELECT 1) AS one
                      LEFT JOIN users u ON u.id = ?
                      LEFT JOIN user_settings s ON s.user_id = u.id""")) {
                Sql.setNullableLong(ps, 1, guildId);
                setRolePolicy(c, ps, 2, guildId, roleIds);
                ps.setLong(6, userId);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    UserSettings user = rs.getObject(9) == null ? UserSettings.NONE : userSettings(rs, 2);
                    return new SubmissionContext(rs.getBoolean(1), user, rs.getString(10), rolePolicy(rs, 11, dflt));
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

    /**
     * The policy for a member: for each limit, the most generous of their roles' quotas that set it, else the
     * default. (A per-user override still wins inside {@link JobStore}.)
     */
    public QuotaPolicy policyFor(Long guildId, Collection<Long> roleIds, QuotaPolicy dflt) {
        if (guildId == null || roleIds.isEmpty()) {
            return dflt;
        }
        return Tx.read(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT " + ROLE_POLICY_COLUMNS)) {
                setRolePolicy(c, ps, 1, guildId, roleIds);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rolePolicy(rs, 1, dflt);
                }
            }
        });
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
