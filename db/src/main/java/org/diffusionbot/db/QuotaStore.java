package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import javax.sql.DataSource;

/**
 * Per-user allowances: images used on the current UTC day (from the settable {@link Clock}), jobs queued or running,
 * and an admin's per-user override of either limit, which wins over the {@link QuotaPolicy} the caller passes.
 * Charging and refunding happen inside the job's own transaction ({@link JobStore}).
 */
public final class QuotaStore {
    private final Jdbc jdbc;
    private final Clock clock;

    public QuotaStore(DataSource ds, Clock clock) {
        this.jdbc = new Jdbc(ds);
        this.clock = clock;
    }

    /** Where the user stands today under {@code policy} (their override, if any, wins). */
    public QuotaStatus status(long userId, QuotaPolicy policy) {
        LocalDate today = today();
        return jdbc.auto(c -> status(c, userId, policy, today));
    }

    /** Admin override of one user's limits; null restores the policy's value. */
    public void setOverride(long userId, String userName, Integer dailyLimit, Integer maxActive) {
        LocalDate today = today();
        jdbc.tx(c -> {
            UserStore.upsert(c, userId, userName);
            return Jdbc.update(c, """
                    INSERT INTO quotas (user_id, period_day, daily_limit, max_active) VALUES (?, ?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET daily_limit = EXCLUDED.daily_limit,
                                                        max_active = EXCLUDED.max_active, updated_at = now()""",
                    userId, today, dailyLimit, maxActive);
        });
    }

    LocalDate today() {
        return LocalDate.ofInstant(clock.instant(), ZoneOffset.UTC);
    }

    private static Instant resetsAt(LocalDate day) {
        return day.plusDays(1).atStartOfDay(ZoneOffset.UTC).toInstant();
    }

    private static Jdbc.RowMapper<QuotaStatus> status(LocalDate today) {
        return rs -> new QuotaStatus(rs.getInt(1), rs.getInt(2), rs.getInt(3), rs.getInt(4), resetsAt(today));
    }

    static QuotaStatus status(Connection c, long userId, QuotaPolicy policy, LocalDate today) throws SQLException {
        QuotaStatus q = Jdbc.one(c, """
                SELECT CASE WHEN period_day = ? THEN used_today ELSE 0 END, COALESCE(daily_limit, ?),
                       active_jobs, COALESCE(max_active, ?)
                  FROM quotas WHERE user_id = ?""", status(today), today, policy.dailyImages(), policy.maxActive(),
                userId);
        return q != null ? q : new QuotaStatus(0, policy.dailyImages(), 0, policy.maxActive(), resetsAt(today));
    }

    /**
     * Charges {@code count} images and one active job if the user's limits allow, by one conditional UPDATE (correct
     * under concurrent submissions); creates the user's row first if it is their first job. Null when over a limit.
     */
    static QuotaStatus charge(Connection c, long userId, int count, QuotaPolicy policy, LocalDate today)
            throws SQLException {
        QuotaStatus charged = tryCharge(c, userId, count, policy, today);
        if (charged == null) {
            // the user's first job (no quota row yet), or over a limit: make sure the row exists and try again
            Jdbc.update(c, "INSERT INTO quotas (user_id, period_day) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING",
                    userId, today);
            charged = tryCharge(c, userId, count, policy, today);
        }
        return charged;
    }

    private static QuotaStatus tryCharge(Connection c, long userId, int count, QuotaPolicy policy, LocalDate today)
            throws SQLException {
        return Jdbc.one(c, """
                UPDATE quotas
                   SET used_today = (CASE WHEN period_day = ? THEN used_today ELSE 0 END) + ?,
                       period_day = ?,
                       active_jobs = active_jobs + 1,
                       updated_at = now()
                 WHERE user_id = ?
                   AND (CASE WHEN period_day = ? THEN used_today ELSE 0 END) + ? <= COALESCE(daily_limit, ?)
                   AND active_jobs + 1 <= COALESCE(max_active, ?)
                RETURNING used_today, COALESCE(daily_limit, ?), active_jobs, COALESCE(max_active, ?)""",
                status(today), today, count, today, userId, today, count, policy.dailyImages(), policy.maxActive(),
                policy.dailyImages(), policy.maxActive());
    }

    /** Frees the user's active-job slot and refunds {@code images} charged on {@code chargedOn}. */
    static void release(Connection c, long userId, int images, LocalDate chargedOn) throws SQLException {
        Jdbc.update(c, """
                UPDATE quotas SET active_jobs = active_jobs - 1,
                                  used_today = CASE WHEN period_day = ? THEN used_today - ? ELSE used_today END,
                                  updated_at = now()
                 WHERE user_id = ?""", chargedOn, images, userId);
    }
}
