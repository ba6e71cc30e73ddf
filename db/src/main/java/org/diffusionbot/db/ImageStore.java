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

    /** The images of a job in order. */
    public List<StoredImage> images(UUID jobId) {
        return jdbc.list("SELECT " + Rows.IMAGE_COLUMNS + " FROM images WHERE job_id = ? ORDER BY image_index",
                Rows.IMAGE, jobId);
    }

    /** Image {@code index} of a job, if it exists and is still visible. */
    public Optional<ImageRef> image(UUID jobId, int index) {
        return jdbc.one("SELECT id, " + Rows.IMAGE_COLUMNS + " FROM images WHERE job_id = ? AND image_index = ? AND visible",
                rs -> new ImageRef(rs.getLong("id"), jobId, Rows.IMAGE.map(rs)), jobId, index);
    }

    /**
     * Hides every image of a job (deleted on Discord by its author or an admin: the caller checked
     * that), recording who and when as the gallery's own hiding does; returns how many were visible.
     */
    public int hideImages(UUID jobId, long byUserId) {
        return jdbc.update("""
                UPDATE images SET visible = FALSE, hidden_at = now(),
                                  hidden_by = (SELECT id FROM users WHERE id = ?)
                 WHERE job_id = ? AND visible""", byUserId, jobId);
    }

    /** Stores a job's images; an image already stored (a redelivered result) is left as it is. */
    static void insert(Connection c, UUID jobId, List<StoredImage> images) throws SQLException {
        Jdbc.batch(c, """
                INSERT INTO images (job_id, image_index, seed, width, height, png, thumbnail, parameters)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, image_index) DO NOTHING""",
                images.stream().map(im -> new Object[] {jobId, im.index(), im.seed(), im.width(), im.height(), im.png(),
                        im.thumbnail(), im.parameters()}).toList());
    }
}
