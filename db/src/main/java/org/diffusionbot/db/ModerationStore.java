package org.diffusionbot.db;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import javax.sql.DataSource;

/**
 * Moderation data of each server (migration V8): settings, blocked terms, flagged images and the audit log.
 * Every admin change is written together with its audit row, in one transaction. Terms are stored as the
 * admin wrote them; the bot validates them (its {@code BlockedTerm}) before they get here.
 */
public final class ModerationStore {
    /** Most blocked terms one server may have. */
    public static final int MAX_TERMS = 500;

    /** What a flagged image in an ordinary channel becomes. */
    public enum FlaggedAction {
        /** not shown; the message says it was withheld */
        WITHHOLD,
        /** shown blurred, as a Discord spoiler */
        SPOILER;

        /** @return the stored name, {@code withhold} or {@code spoiler} */
        public String sql() {
            return name().toLowerCase(Locale.ROOT);
        }

        static FlaggedAction ofSql(String s) {
            return valueOf(s.toUpperCase(Locale.ROOT));
        }
    }

    /**
     * A blocked term as stored.
     *
     * @param kind {@code word} or {@code regex}
     * @param term the word or the pattern
     */
    public record Term(String kind, String term) {
    }

    /**
     * A server's moderation settings.
     *
     * @param defaultTerms whether the bot's shipped list of blocked terms applies
     * @param flaggedAction what a flagged image becomes
     * @param requireAgeRestricted whether {@code /imagine} is refused outside age-restricted channels while no
     *     worker runs the safety check
     * @param terms the server's own blocked terms, oldest first
     */
    public record Settings(boolean defaultTerms, FlaggedAction flaggedAction, boolean requireAgeRestricted,
            List<Term> terms) {
        /** A server that never changed anything. */
        public static final Settings DEFAULT = new Settings(false, FlaggedAction.WITHHOLD, false, List.of());
    }

    /**
     * A change of settings; null fields stay as they are.
     *
     * @param defaultTerms see {@link Settings}
     * @param flaggedAction see {@link Settings}
     * @param requireAgeRestricted see {@link Settings}
     */
    public record SettingsChange(Boolean defaultTerms, FlaggedAction flaggedAction, Boolean requireAgeRestricted) {
        String describe() {
            List<String> parts = new ArrayList<>();
            if (defaultTerms != null) {
                parts.add("default_terms=" + defaultTerms);
            }
            if (flaggedAction != null) {
                parts.add("flagged_action=" + flaggedAction.sql());
            }
            if (requireAgeRestricted != null) {
                parts.add("require_age_restricted=" + requireAgeRestricted);
            }
            return String.join(", ", parts);
        }
    }

    /** The outcome of {@link #addTerm}. */
    public enum AddResult {
        ADDED, ALREADY_THERE, FULL
    }

    /**
     * An image the safety check flagged.
     *
     * @param jobId its job
     * @param imageIndex its index in the job
     * @param userId the job's author
     * @param userName their name at the time
     * @param prompt the job's prompt
     * @param score the checker's highest concept score
     * @param action what the user was shown
     * @param at when it was recorded
     */
    public record Flagged(UUID jobId, int imageIndex, long userId, String userName, String prompt, float score,
            FlaggedAction action, Instant at) {
    }

    /**
     * One line of the audit log.
     *
     * @param actorId the admin, or the user whose prompt was refused
     * @param action {@code block}, {@code unblock}, {@code setting}, {@code refusal} or {@code hide}
     * @param detail what exactly
     * @param at when
     */
    public record AuditEntry(long actorId, String action, String detail, Instant at) {
    }

    private final Jdbc jdbc;

    public ModerationStore(DataSource ds) {
        this.jdbc = new Jdbc(ds);
    }

    /**
     * A server's settings and blocked terms as four columns of a {@code SELECT} (aliases {@code mod_*}), read by
     * {@link #settingsOf}; its parameters: the guild id four times ({@link #settingsArgs}). A null guild (a direct
     * message) reads the defaults.
     */
    static final String SETTINGS_COLUMNS = """
            (SELECT default_terms FROM moderation_settings WHERE guild_id = ?) AS mod_default_terms,
            (SELECT flagged_action FROM moderation_settings WHERE guild_id = ?) AS mod_flagged_action,
            (SELECT require_age_restricted FROM moderation_settings WHERE guild_id = ?) AS mod_require_age_restricted,
            (SELECT array_agg(t.kind || ':' || t.term ORDER BY t.added_at, t.kind, t.term)
               FROM blocked_terms t WHERE t.guild_id = ?) AS mod_terms""";

    /** The parameters of {@link #SETTINGS_COLUMNS}. */
    static Object[] settingsArgs(Long guildId) {
        return new Object[] {guildId, guildId, guildId, guildId};
    }

    /** The settings from the {@link #SETTINGS_COLUMNS} of a row. */
    static Settings settingsOf(ResultSet rs) throws SQLException {
        List<Term> terms = new ArrayList<>();
        Array a = rs.getArray("mod_terms");
        if (a != null) {
            for (Object o : (Object[]) a.getArray()) {
                String s = (String) o;
                int colon = s.indexOf(':');
                terms.add(new Term(s.substring(0, colon), s.substring(colon + 1)));
            }
        }
        String action = rs.getString("mod_flagged_action");
        if (action == null) {
            return new Settings(false, FlaggedAction.WITHHOLD, false, List.copyOf(terms));
        }
        return new Settings(rs.getBoolean("mod_default_terms"), FlaggedAction.ofSql(action),
                rs.getBoolean("mod_require_age_restricted"), List.copyOf(terms));
    }

    /** The server's settings and blocked terms, in one statement. */
    public Settings settings(long guildId) {
        return jdbc.one("SELECT " + SETTINGS_COLUMNS, ModerationStore::settingsOf, settingsArgs(guildId))
                .orElseThrow();
    }

    /** Applies a change of settings and audits it. */
    public void changeSettings(long guildId, long adminId, SettingsChange change) {
        jdbc.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO moderation_settings AS m
                        (guild_id, default_terms, flagged_action, require_age_restricted, updated_by)
                    VALUES (?, COALESCE(?, FALSE), COALESCE(?, 'withhold'), COALESCE(?, FALSE), ?)
                    ON CONFLICT (guild_id) DO UPDATE SET
                        default_terms = COALESCE(?, m.default_terms),
                        flagged_action = COALESCE(?, m.flagged_action),
                        require_age_restricted = COALESCE(?, m.require_age_restricted),
                        updated_by = EXCLUDED.updated_by, updated_at = now()""")) {
                ps.setLong(1, guildId);
                for (int offset : new int[] {1, 5}) {
                    setNullableBoolean(ps, offset + 1, change.defaultTerms());
                    ps.setString(offset + 2, change.flaggedAction() == null ? null : change.flaggedAction().sql());
                    setNullableBoolean(ps, offset + 3, change.requireAgeRestricted());
                }
                ps.setLong(5, adminId);
                ps.executeUpdate();
            }
            audit(c, guildId, adminId, "setting", change.describe());
            return null;
        });
    }

    /**
     * Adds a blocked term and audits it.
     *
     * @return whether it was added, was there already, or the server has {@link #MAX_TERMS} terms
     */
    public AddResult addTerm(long guildId, long adminId, Term term) {
        return jdbc.tx(c -> {
            try (PreparedStatement lock = c.prepareStatement("SELECT pg_advisory_xact_lock(?)")) {
                lock.setLong(1, guildId); // serialises the count check of one server
                lock.executeQuery().close();
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM blocked_terms WHERE guild_id = ?")) {
                ps.setLong(1, guildId);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (rs.getInt(1) >= MAX_TERMS) {
                        return AddResult.FULL;
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO blocked_terms (guild_id, kind, term, added_by) VALUES (?, ?, ?, ?)
                    ON CONFLICT DO NOTHING""")) {
                ps.setLong(1, guildId);
                ps.setString(2, term.kind());
                ps.setString(3, term.term());
                ps.setLong(4, adminId);
                if (ps.executeUpdate() == 0) {
                    return AddResult.ALREADY_THERE;
                }
            }
            audit(c, guildId, adminId, "block", term.kind() + " " + term.term());
            return AddResult.ADDED;
        });
    }

    /** Removes a blocked term and audits it; false when the server had no such term. */
    public boolean removeTerm(long guildId, long adminId, Term term) {
        return jdbc.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "DELETE FROM blocked_terms WHERE guild_id = ? AND kind = ? AND term = ?")) {
                ps.setLong(1, guildId);
                ps.setString(2, term.kind());
                ps.setString(3, term.term());
                if (ps.executeUpdate() == 0) {
                    return false;
                }
            }
            audit(c, guildId, adminId, "unblock", term.kind() + " " + term.term());
            return true;
        });
    }

    /** Audits a prompt refused by a blocked term (nothing was charged). */
    public void recordRefusal(Long guildId, long userId, String detail) {
        jdbc.tx(c -> {
            audit(c, guildId, userId, "refusal", detail);
            return null;
        });
    }

    /**
     * Hides every image of another member's job, as an admin (the 🗑️ Delete button), and audits it ({@code hide}) in
     * the same transaction.
     *
     * @return how many images were visible
     */
    public int hideAsAdmin(Long guildId, long adminId, UUID jobId) {
        return jdbc.tx(c -> {
            int hidden = ImageStore.hide(c, jobId, adminId);
            audit(c, guildId, adminId, "hide", "job " + jobId + ": " + hidden + " image(s) hidden");
            return hidden;
        });
    }

    /**
     * Records a flagged image of a job (author and server from the job); a second record of the same image
     * is ignored, so a redelivered result records nothing twice.
     */
    public void recordFlagged(UUID jobId, int imageIndex, float score, FlaggedAction action) {
        jdbc.tx(c -> {
            insertFlagged(c, jobId, imageIndex, score, action);
            return null;
        });
    }

    /**
     * The images of a finished job as they are to be stored: unchecked when the job came from an age-restricted
     * channel; a flagged one marked with what its server shows of flagged images (read here, in the caller's
     * transaction; withheld in direct messages and servers that never chose).
     */
    static List<StoredImage> applyVerdicts(Connection c, JobRecord job, List<StoredImage> images) throws SQLException {
        FlaggedAction action = null;
        List<StoredImage> out = new ArrayList<>(images.size());
        for (StoredImage im : images) {
            if (job.ageRestricted()) {
                out.add(im.as(ImageSafety.UNCHECKED, null));
            } else if (im.safety() == ImageSafety.FLAGGED) {
                if (action == null) {
                    action = job.guildId() == null ? FlaggedAction.WITHHOLD
                            : Jdbc.one(c, "SELECT flagged_action FROM moderation_settings WHERE guild_id = ?",
                                    rs -> FlaggedAction.ofSql(rs.getString(1)), job.guildId());
                    action = action == null ? FlaggedAction.WITHHOLD : action;
                }
                out.add(im.as(ImageSafety.FLAGGED, action));
            } else {
                out.add(im.as(im.safety(), null));
            }
        }
        return out;
    }

    /** {@link #recordFlagged} inside the caller's transaction. */
    static void insertFlagged(Connection c, UUID jobId, int imageIndex, float score, FlaggedAction action)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO flagged_images (job_id, image_index, user_id, guild_id, score, action)
                SELECT id, ?, user_id, guild_id, ?, ? FROM jobs WHERE id = ?
                ON CONFLICT DO NOTHING""")) {
            ps.setInt(1, imageIndex);
            ps.setFloat(2, score);
            ps.setString(3, action.sql());
            ps.setObject(4, jobId);
            ps.executeUpdate();
        }
    }

    /** The server's flagged images, newest first. */
    public List<Flagged> flagged(long guildId, int limit) {
        return jdbc.auto(c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    SELECT f.job_id, f.image_index, f.user_id, u.name, j.prompt, f.score, f.action, f.flagged_at
                      FROM flagged_images f
                      JOIN jobs j ON j.id = f.job_id
                      JOIN users u ON u.id = f.user_id
                     WHERE f.guild_id = ?
                     ORDER BY f.flagged_at DESC, f.job_id, f.image_index
                     LIMIT ?""")) {
                ps.setLong(1, guildId);
                ps.setInt(2, limit);
                List<Flagged> out = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(new Flagged(rs.getObject(1, UUID.class), rs.getInt(2), rs.getLong(3), rs.getString(4),
                                rs.getString(5), rs.getFloat(6), FlaggedAction.ofSql(rs.getString(7)),
                                rs.getTimestamp(8).toInstant()));
                    }
                }
                return out;
            }
        });
    }

    /** The server's audit log, newest first. */
    public List<AuditEntry> audit(long guildId, int limit) {
        return jdbc.auto(c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    SELECT actor_id, action, detail, at FROM moderation_audit
                     WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT ?""")) {
                ps.setLong(1, guildId);
                ps.setInt(2, limit);
                List<AuditEntry> out = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(new AuditEntry(rs.getLong(1), rs.getString(2), rs.getString(3),
                                rs.getTimestamp(4).toInstant()));
                    }
                }
                return out;
            }
        });
    }

    private static void audit(Connection c, Long guildId, long actorId, String action, String detail)
            throws SQLException {
        Jdbc.update(c, "INSERT INTO moderation_audit (guild_id, actor_id, action, detail) VALUES (?, ?, ?, ?)",
                guildId, actorId, action, cut(detail, 4000));
    }

    /** The text cut to at most {@code max} chars, never between the two halves of a surrogate pair. */
    private static String cut(String s, int max) {
        if (s.length() <= max) {
            return s;
        }
        return s.substring(0, Character.isHighSurrogate(s.charAt(max - 1)) ? max - 1 : max);
    }

    private static void setNullableBoolean(PreparedStatement ps, int i, Boolean v) throws SQLException {
        if (v == null) {
            ps.setNull(i, Types.BOOLEAN);
        } else {
            ps.setBoolean(i, v);
        }
    }
}
