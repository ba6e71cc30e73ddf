package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import javax.sql.DataSource;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.MessageCodec;

/**
 * Jobs, quotas and images: every state change of a job and its quota effect in one transaction.
 * Quota days are UTC days taken from the settable {@link Clock}, so tests move time without sleeping.
 */
public final class JobStore {
    private final DataSource ds;
    private final Clock clock;

    public JobStore(DataSource ds, Clock clock) {
        this.ds = ds;
        this.clock = clock;
    }

    /**
     * Records a job and charges its images to the user, or refuses it. A refusal writes nothing.
     * The charge is one conditional UPDATE, correct under concurrent submissions by the same user.
     */
    public Submission submit(NewJob job, QuotaPolicy policy) {
        JobRequest r = job.request();
        LocalDate today = today();
        return Tx.run(ds, c -> {
            if (upsertUserReturningBanned(c, job.userId(), job.userName())) {
                c.rollback();
                return new Submission.Refused(Submission.Reason.BANNED, "you are not allowed to generate images here");
            }
            QuotaStatus charged = charge(c, job.userId(), r.count(), policy, today);
            if (charged == null) {
                // the user's first job (no quota row yet), or over a limit: make sure the row exists and try again
                try (PreparedStatement ps = c.prepareStatement(
                        "INSERT INTO quotas (user_id, period_day) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING")) {
                    ps.setLong(1, job.userId());
                    ps.setObject(2, today);
                    ps.executeUpdate();
                }
                charged = charge(c, job.userId(), r.count(), policy, today);
            }
            if (charged == null) {
                QuotaStatus q = quota(c, job.userId(), policy, today);
                c.rollback();
                if (q.activeJobs() + 1 > q.maxActive()) {
                    return new Submission.Refused(Submission.Reason.ACTIVE_LIMIT, "you already have " + q.activeJobs()
                            + " job(s) queued or running (the limit is " + q.maxActive()
                            + "); wait for one to finish or /cancel it");
                }
                return new Submission.Refused(Submission.Reason.DAILY_LIMIT, "this needs " + r.count()
                        + " image(s) but you have " + q.remainingToday() + " of " + q.dailyLimit()
                        + " left today; the allowance resets <t:" + q.resetsAt().getEpochSecond() + ":R>");
            }
            insertJob(c, job, today);
            return new Submission.Accepted(r.jobId(), charged);
        });
    }

    /** Charges {@code count} images and one active job if the user's limits allow; null when they do not (or no row). */
    private static QuotaStatus charge(Connection c, long userId, int count, QuotaPolicy policy, LocalDate today)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE quotas
                   SET used_today = (CASE WHEN period_day = ? THEN used_today ELSE 0 END) + ?,
                       period_day = ?,
                       active_jobs = active_jobs + 1,
                       updated_at = now()
                 WHERE user_id = ?
                   AND (CASE WHEN period_day = ? THEN used_today ELSE 0 END) + ? <= COALESCE(daily_limit, ?)
                   AND active_jobs + 1 <= COALESCE(max_active, ?)
                RETURNING used_today, COALESCE(daily_limit, ?), active_jobs, COALESCE(max_active, ?)""")) {
            int i = 1;
            ps.setObject(i++, today);
            ps.setInt(i++, count);
            ps.setObject(i++, today);
            ps.setLong(i++, userId);
            ps.setObject(i++, today);
            ps.setInt(i++, count);
            ps.setInt(i++, policy.dailyImages());
            ps.setInt(i++, policy.maxActive());
            ps.setInt(i++, policy.dailyImages());
            ps.setInt(i, policy.maxActive());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? new QuotaStatus(rs.getInt(1), rs.getInt(2), rs.getInt(3), rs.getInt(4), resetsAt(today))
                        : null;
            }
        }
    }

    /** Records the user (or their new name) and says whether they are banned, in one statement. */
    private static boolean upsertUserReturningBanned(Connection c, long userId, String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                WITH up AS (INSERT INTO users (id, name) VALUES (?, ?)
                            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
                             WHERE users.name IS DISTINCT FROM EXCLUDED.name
                            RETURNING banned)
                SELECT banned FROM up
                UNION ALL
                SELECT banned FROM users WHERE id = ? AND NOT EXISTS (SELECT 1 FROM up)""")) {
            ps.setLong(1, userId);
            ps.setString(2, name);
            ps.setLong(3, userId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getBoolean(1);
            }
        }
    }

    /**
     * A worker started the job (first progress). Counts an attempt each time another worker takes it.
     * Returns the job as it now stands, or empty when it had already ended (or does not exist).
     */
    public Optional<JobRecord> markRunning(UUID jobId, String workerId) {
        return Optional.ofNullable(Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, now()), updated_at = now(),
                                    attempts = attempts + CASE WHEN worker_id IS DISTINCT FROM ? THEN 1 ELSE 0 END,
                                    worker_id = ?
                     WHERE id = ? AND state IN ('queued', 'running')
                    RETURNING *""")) {
                ps.setString(1, workerId);
                ps.setString(2, workerId);
                ps.setObject(3, jobId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? map(rs) : null;
                }
            }
        }));
    }

    /**
     * Stores the images and marks the job succeeded. Idempotent: a redelivered result, or one for a
     * job that already ended (cancelled meanwhile), changes nothing and returns false.
     */
    public boolean complete(UUID jobId, String workerId, List<StoredImage> images) {
        return completeAndGet(jobId, workerId, images).isPresent();
    }

    /** As {@link #complete}, returning the job as this call ended it; empty when it had already ended. */
    public Optional<JobRecord> completeAndGet(UUID jobId, String workerId, List<StoredImage> images) {
        return Optional.ofNullable(Tx.run(ds, c -> {
            JobRecord ended;
            try (PreparedStatement ps = c.prepareStatement(FINISH + " RETURNING *")) {
                setFinish(ps, jobId, JobState.SUCCEEDED, workerId, null);
                try (ResultSet rs = ps.executeQuery()) {
                    ended = rs.next() ? map(rs) : null;
                }
            }
            if (ended == null) {
                return null;
            }
            long userId = ended.userId();
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO images (job_id, image_index, seed, width, height, png, thumbnail, parameters)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, image_index) DO NOTHING""")) {
                for (StoredImage im : images) {
                    ps.setObject(1, jobId);
                    ps.setInt(2, im.index());
                    ps.setLong(3, im.seed());
                    ps.setInt(4, im.width());
                    ps.setInt(5, im.height());
                    ps.setBytes(6, im.png());
                    ps.setBytes(7, im.thumbnail());
                    ps.setString(8, im.parameters());
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            releaseActive(c, userId, 0, null);
            return ended;
        }));
    }

    /**
     * Ends a job as failed or cancelled and refunds its images (to the day they were charged to).
     * Idempotent: returns false when the job had already ended.
     */
    public boolean fail(UUID jobId, JobState state, String workerId, String error) {
        if (state != JobState.FAILED && state != JobState.CANCELLED) {
            throw new IllegalArgumentException("fail() ends a job as failed or cancelled, not " + state);
        }
        return Tx.run(ds, c -> {
            JobRecord before = find(c, jobId, true);
            if (before == null || before.state().terminal()) {
                return false;
            }
            finish(c, jobId, state, workerId, error);
            try (PreparedStatement ps = c.prepareStatement("SELECT charged_on FROM jobs WHERE id = ?")) {
                ps.setObject(1, jobId);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    releaseActive(c, before.userId(), before.quotaCharged(), rs.getObject(1, LocalDate.class));
                }
            }
            return true;
        });
    }

    /** Cancels a queued or running job of this user; empty when there is no such job of theirs. */
    public Optional<JobRecord> cancel(UUID jobId, long userId) {
        Optional<JobRecord> job = find(jobId).filter(j -> j.userId() == userId);
        if (job.isEmpty() || job.get().state().terminal()) {
            return Optional.empty();
        }
        return fail(jobId, JobState.CANCELLED, null, "cancelled by the user") ? find(jobId) : Optional.empty();
    }

    public Optional<JobRecord> find(UUID jobId) {
        return Optional.ofNullable(Tx.run(ds, c -> find(c, jobId, false)));
    }

    /** The user's latest jobs, newest first. */
    public List<JobRecord> recentJobs(long userId, int limit) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT * FROM jobs WHERE user_id = ? ORDER BY created_at DESC, id LIMIT ?")) {
                ps.setLong(1, userId);
                ps.setInt(2, limit);
                List<JobRecord> out = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(map(rs));
                    }
                }
                return out;
            }
        });
    }

    /** The broker confirmed these jobs: they leave the outbox. One statement for all. */
    public void markPublished(java.util.Collection<UUID> jobIds) {
        markNow("published_at", jobIds);
    }

    /**
     * The users have been shown these jobs' outcomes; redelivered results will not be shown again. One
     * statement for all.
     */
    public void markDelivered(java.util.Collection<UUID> jobIds) {
        markNow("delivered_at", jobIds);
    }

    /** Sets {@code column} (a constant of this class, never input) to now where it is not set yet. */
    private void markNow(String column, java.util.Collection<UUID> jobIds) {
        Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE jobs SET " + column + " = now() WHERE id = ANY (?) AND " + column + " IS NULL")) {
                ps.setArray(1, c.createArrayOf("uuid", jobIds.toArray()));
                return ps.executeUpdate();
            }
        });
    }

    /**
     * The outbox: queued jobs the broker has not confirmed, at least {@code minAge} old (younger
     * ones may still be waiting for their first confirm), oldest first.
     */
    public List<Unpublished> unpublished(java.time.Duration minAge, int limit) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    SELECT request::text, created_at FROM jobs
                     WHERE state = 'queued' AND published_at IS NULL AND created_at <= ?
                     ORDER BY created_at LIMIT ?""")) {
                ps.setTimestamp(1, Timestamp.from(clock.instant().minus(minAge)));
                ps.setInt(2, limit);
                List<Unpublished> out = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        try {
                            out.add(new Unpublished(MessageCodec.decode(
                                    rs.getString(1).getBytes(java.nio.charset.StandardCharsets.UTF_8), JobRequest.class),
                                    rs.getTimestamp(2).toInstant()));
                        } catch (org.diffusionbot.common.messages.InvalidMessageException e) {
                            throw new IllegalStateException("stored job request is unreadable: " + e.getMessage(), e);
                        }
                    }
                }
                return out;
            }
        });
    }

    /** A job waiting in the outbox. */
    public record Unpublished(JobRequest request, Instant createdAt) {
    }

    /** The images of a job in order. */
    public List<StoredImage> images(UUID jobId) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    SELECT image_index, seed, width, height, png, thumbnail, parameters FROM images
                     WHERE job_id = ? ORDER BY image_index""")) {
                ps.setObject(1, jobId);
                List<StoredImage> out = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(new StoredImage(rs.getInt(1), rs.getLong(2), rs.getInt(3), rs.getInt(4), rs.getBytes(5),
                                rs.getBytes(6), rs.getString(7)));
                    }
                }
                return out;
            }
        });
    }

    /** Jobs of the same model still queued ahead of this one (0 = next). */
    public int queuePosition(UUID jobId) {
        return Tx.run(ds, c -> queuePosition(c, jobId));
    }

    private static int queuePosition(Connection c, UUID jobId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT count(*) FROM jobs o, jobs j
                 WHERE j.id = ? AND o.model = j.model AND o.state = 'queued'
                   AND (o.created_at, o.id) < (j.created_at, j.id)""")) {
            ps.setObject(1, jobId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    public QuotaStatus quota(long userId, QuotaPolicy policy) {
        return Tx.run(ds, c -> quota(c, userId, policy, today()));
    }

    /** Admin override of one user's limits; null restores the server default. */
    public void setQuotaOverride(long userId, String userName, Integer dailyLimit, Integer maxActive) {
        Tx.run(ds, c -> {
            Sql.upsertUser(c, userId, userName);
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO quotas (user_id, period_day, daily_limit, max_active) VALUES (?, ?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET daily_limit = EXCLUDED.daily_limit,
                                                        max_active = EXCLUDED.max_active, updated_at = now()""")) {
                ps.setLong(1, userId);
                ps.setObject(2, today());
                Sql.setNullableInt(ps, 3, dailyLimit);
                Sql.setNullableInt(ps, 4, maxActive);
                return ps.executeUpdate();
            }
        });
    }

    private LocalDate today() {
        return LocalDate.ofInstant(clock.instant(), ZoneOffset.UTC);
    }

    private static Instant resetsAt(LocalDate day) {
        return day.plusDays(1).atStartOfDay(ZoneOffset.UTC).toInstant();
    }

    private static QuotaStatus quota(Connection c, long userId, QuotaPolicy policy, LocalDate today) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT CASE WHEN period_day = ? THEN used_today ELSE 0 END, COALESCE(daily_limit, ?),
                       active_jobs, COALESCE(max_active, ?)
                  FROM quotas WHERE user_id = ?""")) {
            ps.setObject(1, today);
            ps.setInt(2, policy.dailyImages());
            ps.setInt(3, policy.maxActive());
            ps.setLong(4, userId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return new QuotaStatus(0, policy.dailyImages(), 0, policy.maxActive(), resetsAt(today));
                }
                return new QuotaStatus(rs.getInt(1), rs.getInt(2), rs.getInt(3), rs.getInt(4), resetsAt(today));
            }
        }
    }

    private static void insertJob(Connection c, NewJob job, LocalDate today) throws SQLException {
        JobRequest r = job.request();
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO jobs (id, user_id, guild_id, channel_id, kind, parent_image_id, application_id,
                                  interaction_token, token_expires_at, model, prompt, negative_prompt, width, height,
                                  steps, cfg, sampler, seed, image_count, clip_skip, strength, request,
                                  quota_charged, charged_on, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?)""")) {
            int i = 1;
            ps.setObject(i++, r.jobId());
            ps.setLong(i++, job.userId());
            Sql.setNullableLong(ps, i++, job.guildId());
            ps.setLong(i++, job.channelId());
            ps.setString(i++, job.kind());
            Sql.setNullableLong(ps, i++, job.parentImageId());
            Sql.setNullableLong(ps, i++, job.applicationId());
            ps.setString(i++, job.interactionToken());
            ps.setTimestamp(i++, job.tokenExpiresAt() == null ? null : Timestamp.from(job.tokenExpiresAt()));
            ps.setString(i++, r.model());
            ps.setString(i++, r.prompt());
            ps.setString(i++, r.negativePrompt());
            ps.setInt(i++, r.width());
            ps.setInt(i++, r.height());
            ps.setInt(i++, r.steps());
            ps.setDouble(i++, r.cfg());
            ps.setString(i++, r.sampler().id());
            ps.setLong(i++, r.seed());
            ps.setInt(i++, r.count());
            ps.setInt(i++, r.clipSkip());
            if (r.strength() == null) {
                ps.setNull(i++, Types.DOUBLE);
            } else {
                ps.setDouble(i++, r.strength());
            }
            ps.setString(i++, new String(MessageCodec.encode(r), java.nio.charset.StandardCharsets.UTF_8));
            ps.setInt(i++, r.count());
            ps.setObject(i++, today);
            ps.setTimestamp(i, Timestamp.from(r.createdAt()));
            ps.executeUpdate();
        }
    }

    private static final String FINISH = """
            UPDATE jobs SET state = ?, error = ?, worker_id = COALESCE(?, worker_id),
                            finished_at = now(), updated_at = now()
             WHERE id = ? AND state IN ('queued', 'running')""";

    private static void setFinish(PreparedStatement ps, UUID jobId, JobState state, String workerId, String error)
            throws SQLException {
        ps.setString(1, state.sql());
        ps.setString(2, error);
        ps.setString(3, workerId);
        ps.setObject(4, jobId);
    }

    /** Moves a non-terminal job to a terminal state; returns its user, or null when it had already ended. */
    private static Long finish(Connection c, UUID jobId, JobState state, String workerId, String error)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(FINISH + " RETURNING user_id")) {
            setFinish(ps, jobId, state, workerId, error);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : null;
            }
        }
    }

    /** Frees the user's active-job slot and refunds {@code images} charged on {@code chargedOn}. */
    private static void releaseActive(Connection c, long userId, int images, LocalDate chargedOn) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE quotas SET active_jobs = active_jobs - 1,
                                  used_today = CASE WHEN period_day = ? THEN used_today - ? ELSE used_today END,
                                  updated_at = now()
                 WHERE user_id = ?""")) {
            ps.setObject(1, chargedOn);
            ps.setInt(2, images);
            ps.setLong(3, userId);
            ps.executeUpdate();
        }
    }

    private static JobRecord find(Connection c, UUID jobId, boolean forUpdate) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT * FROM jobs WHERE id = ?" + (forUpdate ? " FOR UPDATE" : ""))) {
            ps.setObject(1, jobId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? map(rs) : null;
            }
        }
    }

    private static JobRecord map(ResultSet rs) throws SQLException {
        return new JobRecord(
                rs.getObject("id", UUID.class),
                rs.getLong("user_id"),
                (Long) rs.getObject("guild_id"),
                rs.getLong("channel_id"),
                rs.getString("kind"),
                rs.getString("model"),
                rs.getString("prompt"),
                rs.getString("negative_prompt"),
                rs.getInt("width"),
                rs.getInt("height"),
                rs.getInt("steps"),
                rs.getDouble("cfg"),
                rs.getString("sampler"),
                rs.getLong("seed"),
                rs.getInt("image_count"),
                rs.getInt("clip_skip"),
                (Double) rs.getObject("strength"),
                JobState.ofSql(rs.getString("state")),
                rs.getInt("quota_charged"),
                rs.getInt("attempts"),
                rs.getString("worker_id"),
                rs.getString("error"),
                (Long) rs.getObject("application_id"),
                rs.getString("interaction_token"),
                instant(rs, "token_expires_at"),
                instant(rs, "created_at"),
                instant(rs, "started_at"),
                instant(rs, "finished_at"),
                instant(rs, "delivered_at"));
    }

    private static Instant instant(ResultSet rs, String col) throws SQLException {
        Timestamp t = rs.getTimestamp(col);
        return t == null ? null : t.toInstant();
    }
}
