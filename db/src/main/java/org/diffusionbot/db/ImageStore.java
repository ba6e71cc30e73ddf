package org.diffusionbot.db;

import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Optional;
import java.util.UUID;
import javax.sql.DataSource;
import org.diffusionbot.common.messages.InvalidMessageException;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.Message;
import org.diffusionbot.common.messages.MessageCodec;

/** What the buttons under a finished job need: its published request, one of its images, hiding them. */
public final class ImageStore {
    private final DataSource ds;

    /** One stored image with its row id (the parent of a variation or upscale). */
    public record ImageRef(long id, UUID jobId, StoredImage image) {
    }

    public ImageStore(DataSource ds) {
        this.ds = ds;
    }

    /** The exact request that was published for this job (with its init image, if any). */
    public Optional<JobRequest> request(UUID jobId) {
        String json = Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT request::text FROM jobs WHERE id = ?")) {
                ps.setObject(1, jobId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? rs.getString(1) : null;
                }
            }
        });
        if (json == null) {
            return Optional.empty();
        }
        try {
            Message m = MessageCodec.decode(json.getBytes(StandardCharsets.UTF_8));
            return m instanceof JobRequest r ? Optional.of(r) : Optional.empty();
        } catch (InvalidMessageException e) {
            throw new IllegalStateException("stored request of job " + jobId + " is unreadable: " + e.getMessage(), e);
        }
    }

    /** Image {@code index} of a job, if it exists and is still visible. */
    public Optional<ImageRef> image(UUID jobId, int index) {
        return Optional.ofNullable(Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    SELECT id, image_index, seed, width, height, png, thumbnail, parameters FROM images
                     WHERE job_id = ? AND image_index = ? AND visible""")) {
                ps.setObject(1, jobId);
                ps.setInt(2, index);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? new ImageRef(rs.getLong(1), jobId, new StoredImage(rs.getInt(2), rs.getLong(3),
                            rs.getInt(4), rs.getInt(5), rs.getBytes(6), rs.getBytes(7), rs.getString(8))) : null;
                }
            }
        }));
    }

    /**
     * Hides every image of a job (deleted on Discord by its author or an admin: the caller checked
     * that), recording who and when as the gallery's own hiding does; returns how many were visible.
     */
    public int hideImages(UUID jobId, long byUserId) {
        return Tx.run(ds, c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE images SET visible = FALSE, hidden_at = now(),
                                      hidden_by = (SELECT id FROM users WHERE id = ?)
                     WHERE job_id = ? AND visible""")) {
                ps.setLong(1, byUserId);
                ps.setObject(2, jobId);
                return ps.executeUpdate();
            }
        });
    }
}
