package org.diffusionbot.db;

import java.util.UUID;

/** The row mappers the stores share, each with the columns it reads. */
final class Rows {
    private Rows() {
    }

    /** A {@code jobs} row ({@code SELECT *} or {@code RETURNING *}). */
    static final Jdbc.RowMapper<JobRecord> JOB = rs -> new JobRecord(
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
            Jdbc.instant(rs, "token_expires_at"),
            Jdbc.instant(rs, "created_at"),
            Jdbc.instant(rs, "started_at"),
            Jdbc.instant(rs, "finished_at"),
            Jdbc.instant(rs, "delivered_at"),
            rs.getBoolean("age_restricted"),
            rs.getString("schedule"));

    /**
     * The columns {@link #IMAGE} reads, from {@link #IMAGES}: an image with what its user was shown when it was
     * flagged.
     */
    static final String IMAGE_COLUMNS = "i.id, i.image_index, i.seed, i.width, i.height, i.png, i.thumbnail,"
            + " i.parameters, i.safety, f.score, f.action";

    /** {@code images i} with its {@code flagged_images f} row, if any. */
    static final String IMAGES = "images i LEFT JOIN flagged_images f ON f.job_id = i.job_id"
            + " AND f.image_index = i.image_index";

    static final Jdbc.RowMapper<StoredImage> IMAGE = rs -> {
        ImageSafety safety = ImageSafety.ofSql(rs.getString("safety"));
        String action = rs.getString("action");
        return new StoredImage(rs.getInt("image_index"), rs.getLong("seed"), rs.getInt("width"), rs.getInt("height"),
                rs.getBytes("png"), rs.getBytes("thumbnail"), rs.getString("parameters"), safety,
                (Float) rs.getObject("score"),
                action == null || safety != ImageSafety.FLAGGED ? null : ModerationStore.FlaggedAction.ofSql(action));
    };

    /** The columns {@link #USER_SETTINGS} reads, from {@code users u LEFT JOIN user_settings s}. */
    static final String USER_SETTINGS_COLUMNS =
            "s.sampler, s.steps, s.cfg, s.width, s.height, s.negative_prompt, u.gallery_public, s.schedule,"
            + " s.guidance_rescale, s.clip_skip";

    static final Jdbc.RowMapper<UserSettings> USER_SETTINGS = rs -> new UserSettings(rs.getString("sampler"),
            (Integer) rs.getObject("steps"), (Double) rs.getObject("cfg"), (Integer) rs.getObject("width"),
            (Integer) rs.getObject("height"), rs.getString("negative_prompt"), rs.getBoolean("gallery_public"),
            rs.getString("schedule"), (Double) rs.getObject("guidance_rescale"),
            (Integer) rs.getObject("clip_skip"));
}
