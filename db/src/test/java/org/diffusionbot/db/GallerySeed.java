package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.image.GenerationParameters;
import org.diffusionbot.common.messages.JobRequest;

/**
 * Test data for the gallery, written the way the bot writes it: {@link JobStore#submit} then
 * {@link JobStore#complete}. Shared with the bot's gallery tests through db's test-jar.
 */
public final class GallerySeed {
    /** Makes the stored bytes of image {@code index} of a job (PNG and JPEG thumbnail). */
    public interface Bytes {
        byte[][] pngAndThumbnail(GenerationParameters p, int index);
    }

    /** One job to seed; {@code count} images with consecutive seeds. */
    public record Spec(long userId, String userName, String model, Sampler sampler, String prompt, String negative,
            int count, Long parentImageId) {
        public static Spec of(long userId, String userName, String prompt) {
            return new Spec(userId, userName, "sd15", Sampler.EULER_A, prompt, "", 1, null);
        }

        public Spec model(String m) {
            return new Spec(userId, userName, m, sampler, prompt, negative, count, parentImageId);
        }

        public Spec sampler(Sampler s) {
            return new Spec(userId, userName, model, s, prompt, negative, count, parentImageId);
        }

        public Spec negative(String n) {
            return new Spec(userId, userName, model, sampler, prompt, n, count, parentImageId);
        }

        public Spec count(int n) {
            return new Spec(userId, userName, model, sampler, prompt, negative, n, parentImageId);
        }

        public Spec parent(long imageId) {
            return new Spec(userId, userName, model, sampler, prompt, negative, count, imageId);
        }
    }

    public static final Bytes TINY = (p, i) -> new byte[][] {
            ("png-" + p.seed()).getBytes(java.nio.charset.StandardCharsets.US_ASCII), new byte[] {(byte) 0xFF, (byte) 0xD8}};

    private final DataSource ds;
    private final JobStore jobs;
    private final Bytes bytes;
    private long seed = 1000;

    public GallerySeed(DataSource ds, Bytes bytes) {
        this.ds = ds;
        this.jobs = new JobStore(ds, Clock.systemUTC());
        this.bytes = bytes;
    }

    /** Submits and completes one job; returns the ids of its images in order. */
    public List<Long> add(Spec s) {
        long jobSeed = seed;
        seed += 17;
        JobRequest r = new JobRequest(UUID.randomUUID(), s.model(), s.prompt(), s.negative(), 512, 512, 25, 7.5,
                s.sampler(), jobSeed, s.count(), GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP, null, null, 0, Instant.now());
        Submission sub = jobs.submit(new NewJob(r, s.userId(), s.userName(), 1L, 2L,
                s.parentImageId() == null ? "imagine" : "variation", s.parentImageId(), null, null, null),
                new QuotaPolicy(1_000_000, 1_000_000));
        if (!(sub instanceof Submission.Accepted)) {
            throw new IllegalStateException("seed job refused: " + sub);
        }
        List<StoredImage> images = new ArrayList<>();
        for (int i = 0; i < s.count(); i++) {
            GenerationParameters p = new GenerationParameters(s.prompt(), s.negative(), r.steps(), s.sampler(), r.cfg(),
                    r.seedOf(i), r.width(), r.height(), s.model(), 1, null);
            byte[][] b = bytes.pngAndThumbnail(p, i);
            // checked by the safety check and not flagged: the gallery shows only such images
            images.add(new StoredImage(i, r.seedOf(i), r.width(), r.height(), b[0], b[1], p.toA1111())
                    .checked(false, -0.1f));
        }
        jobs.complete(r.jobId(), "seed-worker", images);
        List<Long> ids = new ArrayList<>();
        try (Connection c = ds.getConnection();
                PreparedStatement ps = c.prepareStatement("SELECT id FROM images WHERE job_id = ? ORDER BY image_index")) {
            ps.setObject(1, r.jobId());
            try (var rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getLong(1));
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
        return ids;
    }

    public long addOne(Spec s) {
        return add(s).get(0);
    }
}
