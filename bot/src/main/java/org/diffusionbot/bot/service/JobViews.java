package org.diffusionbot.bot.service;

import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.db.ImageStore;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobStore;
import org.diffusionbot.db.ModerationStore;
import org.diffusionbot.db.StoredImage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A user's past jobs: {@code /jobs}, the Info button (every parameter) and the Delete button (author or admin; an
 * admin deleting another member's job is a moderation action, written to the audit log with it).
 */
public final class JobViews {
    private static final Logger LOG = LoggerFactory.getLogger(JobViews.class);

    private final JobStore store;
    private final ImageStore images;
    private final ModerationStore moderation;

    public JobViews(JobStore store, ImageStore images, ModerationStore moderation) {
        this.store = store;
        this.images = images;
        this.moderation = moderation;
    }

    /**
     * A finished job with the seeds of its images (in order) and the settings of its request that the job's row
     * does not hold.
     *
     * @param guidanceRescale diffusers' {@code guidance_rescale} φ of its request (0: none)
     */
    public record Info(JobRecord job, List<Long> seeds, double guidanceRescale) {
    }

    /** What a delete request came to. */
    public sealed interface Deletion {
        record Gone() implements Deletion {
        }

        record NotAllowed() implements Deletion {
        }

        /** The images left the gallery; the caller removes the Discord message. */
        record Deleted(JobRecord job, int hidden) implements Deletion {
        }
    }

    /** The user's latest jobs, newest first. */
    public List<JobRecord> recent(long userId, int limit) {
        return store.recentJobs(userId, limit);
    }

    public Optional<Info> info(UUID jobId) {
        return store.find(jobId).map(j -> new Info(j, store.images(jobId).stream().map(StoredImage::seed).toList(),
                images.request(jobId).map(JobRequest::guidanceRescaleOrZero).orElse(0.0)));
    }

    /** Hides the job's images when the caller is its author or an admin. */
    public Deletion delete(Caller caller, UUID jobId) {
        Optional<JobRecord> job = store.find(jobId);
        if (job.isEmpty()) {
            return new Deletion.Gone();
        }
        boolean author = job.get().userId() == caller.userId();
        if (!author && !caller.admin()) {
            LOG.info("user {} may not delete job {} of user {}", caller.userId(), jobId, job.get().userId());
            return new Deletion.NotAllowed();
        }
        int hidden = author ? images.hideImages(jobId, caller.userId())
                : moderation.hideAsAdmin(job.get().guildId(), caller.userId(), jobId);
        LOG.info("job {} deleted by user {} ({}; {} image(s) hidden)", jobId, caller.userId(),
                author ? "author" : "admin", hidden);
        return new Deletion.Deleted(job.get(), hidden);
    }
}
