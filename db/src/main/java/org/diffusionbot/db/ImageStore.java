package org.diffusionbot.db;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import javax.sql.DataSource;
import org.diffusionbot.common.messages.InvalidMessageException;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.Message;
import org.diffusionbot.common.messages.MessageCodec;

/** A job's images and its published request: what results show and what the buttons under them derive from. */
public final class ImageStore {
    private final Jdbc jdbc;

    /** One stored image with its row id (the parent of a variation or upscale). */
    public record ImageRef(long id, UUID jobId, StoredImage image) {
    }

    public ImageStore(DataSource ds) {
        this.jdbc = new Jdbc(ds);
    }

    /** The exact request that was published for this job (with its init image, if any). */
    public Optional<JobRequest> request(UUID jobId) {
        Optional<String> json = jdbc.one("SELECT request::text FROM jobs WHERE id = ?", rs -> rs.getString(1), jobId);
        if (json.isEmpty()) {
            return Optional.empty();
        }
        try {
            Message m = MessageCodec.decode(json.get().getBytes(StandardCharsets.UTF_8));
            return m instanceof JobRequest r ? Optional.of(r) : Optional.empty();
        } catch (InvalidMessageException e) {
            throw new IllegalStateException("stored request of job " + jobId + " is unreadable: " + e.getMessage(), e);
        }
    }

    /** The images of a job in order, with their safety verdicts and what the user was shown of flagged ones. */
    public List<StoredImage> images(UUID jobId) {
        return jdbc.list("SELECT " + Rows.IMAGE_COLUMNS + " FROM " + Rows.IMAGES
                + " WHERE i.job_id = ? ORDER BY i.image_index", Rows.IMAGE, jobId);
    }

    /**
     * Image {@code index} of a job, if it exists, is still visible and was not flagged by the safety check: what a
     * variation or upscale may start from.
     */
    public Optional<ImageRef> image(UUID jobId, int index) {
        return jdbc.one("SELECT " + Rows.IMAGE_COLUMNS + " FROM " + Rows.IMAGES
                + " WHERE i.job_id = ? AND i.image_index = ? AND i.visible AND i.safety <> 'flagged'",
                rs -> new ImageRef(rs.getLong("id"), jobId, Rows.IMAGE.map(rs)), jobId, index);
    }

    /**
     * Hides every image of a job (deleted on Discord by its author or an admin: the caller checked
     * that), recording who and when as the gallery's own hiding does; returns how many were visible.
     */
    public int hideImages(UUID jobId, long byUserId) {
        return jdbc.tx(c -> hide(c, jobId, byUserId));
    }

    /** {@link #hideImages} inside the caller's transaction. */
    static int hide(Connection c, UUID jobId, long byUserId) throws SQLException {
        return Jdbc.update(c, """
                UPDATE images SET visible = FALSE, hidden_at = now(),
                                  hidden_by = (SELECT id FROM users WHERE id = ?)
                 WHERE job_id = ? AND visible""", byUserId, jobId);
    }

    /**
     * Stores a job's images with their safety verdicts; an image already stored (a redelivered result) is left as it
     * is.
     */
    static void insert(Connection c, UUID jobId, List<StoredImage> images) throws SQLException {
        Jdbc.batch(c, """
                INSERT INTO images (job_id, image_index, seed, width, height, png, thumbnail, parameters, safety)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, image_index) DO NOTHING""",
                images.stream().map(im -> new Object[] {jobId, im.index(), im.seed(), im.width(), im.height(), im.png(),
                        im.thumbnail(), im.parameters(), im.safety().sql()}).toList());
    }
}
