package org.diffusionbot.db;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.LocalDate;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import javax.sql.DataSource;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.MessageCodec;

/**
 * The job lifecycle: every state change of a job together with its effect on the user's quota (and, for a success,
 * its images) in one transaction. Each concern's SQL lives with its store ({@link UserStore} users and bans,
 * {@link QuotaStore} quotas, {@link ImageStore} images, {@link OutboxStore} the outbox); this class composes them.
 * The quota, image and outbox methods here are shortcuts to those stores for the lifecycle's callers.
 */
public final class JobStore {
    private final Jdbc jdbc;
    private final QuotaStore quotas;
    private final ImageStore images;
    private final OutboxStore outbox;

    public JobStore(DataSource ds, Clock clock) {
        this.jdbc = new Jdbc(ds);
        this.quotas = new QuotaStore(ds, clock);
        this.images = new ImageStore(ds);
        this.outbox = new OutboxStore(ds, clock);
    }

    /**
     * Records a job and charges it to the user ({@link NewJob#charge()} images; refunded exactly so by {@link #fail}),
     * or refuses it (banned, over a limit). A refusal writes nothing. The charge is one conditional UPDATE, correct
     * under concurrent submissions by the same user.
     */
    public Submission submit(NewJob job, QuotaPolicy policy) {
        JobRequest r = job.request();
        LocalDate today = quotas.today();
        return jdbc.tx(c -> {
            if (UserStore.upsertReturningBanned(c, job.userId(), job.userName())) {
                c.rollback();
                return new Submission.Refused(Submission.Reason.BANNED, "you are not allowed to generate images here");
            }
            QuotaStatus charged = QuotaStore.charge(c, job.userId(), job.charge(), policy, today);
            if (charged == null) {
                QuotaStatus q = QuotaStore.status(c, job.userId(), policy, today);
                c.rollback();
                if (q.activeJobs() + 1 > q.maxActive()) {
                    return new Submission.Refused(Submission.Reason.ACTIVE_LIMIT, "you already have " + q.activeJobs()
                            + " job(s) queued or running (the limit is " + q.maxActive()
                            + "); wait for one to finish or /cancel it");
                }
                return new Submission.Refused(Submission.Reason.DAILY_LIMIT, "this needs " + job.charge()
                        + " image(s)" + (job.charge() == r.count() ? "" : " of your allowance (" + r.count()
                        + " image(s) of model " + r.model() + ", each counting " + job.charge() / r.count() + ")")
                        + " but you have " + q.remainingToday() + " of " + q.dailyLimit()
                        + " left today; the allowance resets <t:" + q.resetsAt().getEpochSecond() + ":R>");
            }
            insert(c, job, today);
            return new Submission.Accepted(r.jobId(), charged);
        });
    }

    /**
     * A worker started the job (first progress). Counts an attempt each time another worker takes it.
     * Returns the job as it now stands, or empty when it had already ended (or does not exist).
     */
    public Optional<JobRecord> markRunning(UUID jobId, String workerId) {
        return jdbc.one("""
                UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, now()), updated_at = now(),
                                attempts = attempts + CASE WHEN worker_id IS DISTINCT FROM ? THEN 1 ELSE 0 END,
                                worker_id = ?
                 WHERE id = ? AND state IN ('queued', 'running')
                RETURNING *""", Rows.JOB, workerId, workerId, jobId);
    }

    /**
     * Stores the images and marks the job succeeded. Idempotent: a redelivered result, or one for a
     * job that already ended (cancelled meanwhile), changes nothing and returns false.
     */
    public boolean complete(UUID jobId, String workerId, List<StoredImage> images) {
        return completeAndGet(jobId, workerId, images).isPresent();
    }

    /**
     * A job this call ended, and its images as stored: what {@link #completeAndGet} decided about each image's safety
     * verdict and, for a flagged one, what its user is shown.
     */
    public record Completed(JobRecord job, List<StoredImage> images) {
    }

    /**
     * As {@link #complete}, returning the job as this call ended it and its images as stored; empty when it had
     * already ended. In the same transaction: the images of a job from an age-restricted channel are stored
     * unchecked (whatever the worker sent); each flagged image gets what its server's setting says
     * ({@link ModerationStore.FlaggedAction}, withheld in direct messages and servers that never chose) and is
     * recorded for admins ({@code flagged_images}). The job stays charged as run.
     */
    public Optional<Completed> completeAndGet(UUID jobId, String workerId, List<StoredImage> images) {
        return Optional.ofNullable(jdbc.tx(c -> {
            JobRecord ended = Jdbc.one(c, FINISH + " RETURNING *", Rows.JOB, JobState.SUCCEEDED.sql(), null, workerId,
                    jobId);
            if (ended == null) {
                return null;
            }
            List<StoredImage> stored = ModerationStore.applyVerdicts(c, ended, images);
            ImageStore.insert(c, jobId, stored);
            for (StoredImage im : stored) {
                if (im.safety() == ImageSafety.FLAGGED) {
                    ModerationStore.insertFlagged(c, jobId, im.index(), im.score() == null ? 0 : im.score(),
                            im.shownAs());
                }
            }
            QuotaStore.release(c, ended.userId(), 0, null);
            return new Completed(ended, stored);
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
        return jdbc.tx(c -> {
            JobRecord before = Jdbc.one(c, "SELECT * FROM jobs WHERE id = ? FOR UPDATE", Rows.JOB, jobId);
            if (before == null || before.state().terminal()) {
                return false;
            }
            LocalDate chargedOn = Jdbc.one(c, FINISH + " RETURNING charged_on", rs -> rs.getObject(1, LocalDate.class),
                    state.sql(), error, workerId, jobId);
            QuotaStore.release(c, before.userId(), before.quotaCharged(), chargedOn);
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
        return jdbc.one("SELECT * FROM jobs WHERE id = ?", Rows.JOB, jobId);
    }

    /** The user's latest jobs, newest first. */
    public List<JobRecord> recentJobs(long userId, int limit) {
        return jdbc.list("SELECT * FROM jobs WHERE user_id = ? ORDER BY created_at DESC, id LIMIT ?", Rows.JOB, userId,
                limit);
    }

    /**
     * Per model and state ({@code queued}, {@code running}): how many jobs, and the creation time of the
     * oldest (the {@code jobs_active} index answers it).
     */
    public List<ActiveJobs> activeJobs() {
        return jdbc.list("""
                SELECT model, state, count(*), min(created_at) FROM jobs
                 WHERE state IN ('queued', 'running') GROUP BY model, state ORDER BY model, state""",
                rs -> new ActiveJobs(rs.getString(1), JobState.valueOf(rs.getString(2).toUpperCase(java.util.Locale.ROOT)),
                        rs.getInt(3), rs.getTimestamp(4).toInstant()));
    }

    /** A row of {@link #activeJobs()}. */
    public record ActiveJobs(String model, JobState state, int count, java.time.Instant oldest) {
    }

    /** Jobs of the same model still queued ahead of this one (0 = next). */
    public int queuePosition(UUID jobId) {
        return jdbc.one("""
                SELECT count(*) FROM jobs o, jobs j
                 WHERE j.id = ? AND o.model = j.model AND o.state = 'queued'
                   AND (o.created_at, o.id) < (j.created_at, j.id)""", rs -> rs.getInt(1), jobId).orElse(0);
    }

    /** As {@link QuotaStore#status}. */
    public QuotaStatus quota(long userId, QuotaPolicy policy) {
        return quotas.status(userId, policy);
    }

    /** As {@link QuotaStore#setOverride}. */
    public void setQuotaOverride(long userId, String userName, Integer dailyLimit, Integer maxActive) {
        quotas.setOverride(userId, userName, dailyLimit, maxActive);
    }

    /** As {@link ImageStore#images}. */
    public List<StoredImage> images(UUID jobId) {
        return images.images(jobId);
    }

    /** As {@link OutboxStore#markPublished}. */
    public void markPublished(Collection<UUID> jobIds) {
        outbox.markPublished(jobIds);
    }

    /** As {@link OutboxStore#markDelivered}. */
    public void markDelivered(Collection<UUID> jobIds) {
        outbox.markDelivered(jobIds);
    }

    /** As {@link OutboxStore#unpublished}. */
    public List<OutboxStore.Unpublished> unpublished(Duration minAge, int limit) {
        return outbox.unpublished(minAge, limit);
    }

    /** Ends a queued or running job: state, error, worker (kept when null); no row when it had already ended. */
    private static final String FINISH = """
            UPDATE jobs SET state = ?, error = ?, worker_id = COALESCE(?, worker_id),
                            finished_at = now(), updated_at = now()
             WHERE id = ? AND state IN ('queued', 'running')""";

    private static void insert(Connection c, NewJob job, LocalDate today) throws SQLException {
        JobRequest r = job.request();
        Jdbc.update(c, """
                INSERT INTO jobs (id, user_id, guild_id, channel_id, kind, parent_image_id, application_id,
                                  interaction_token, token_expires_at, model, prompt, negative_prompt, width, height,
                                  steps, cfg, sampler, schedule, seed, image_count, clip_skip, strength, request,
                                  quota_charged, charged_on, created_at, age_restricted)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?)""",
                r.jobId(), job.userId(), job.guildId(), job.channelId(), job.kind(), job.parentImageId(),
                job.applicationId(), job.interactionToken(), job.tokenExpiresAt(), r.model(), r.prompt(),
                r.negativePrompt(), r.width(), r.height(), r.steps(), r.cfg(), r.sampler().id(),
                r.scheduleOrDefault().id(), r.seed(), r.count(),
                r.clipSkip(), r.strength(), new String(MessageCodec.encode(r), StandardCharsets.UTF_8), job.charge(), today,
                r.createdAt(), r.ageRestricted());
    }
}
