package org.diffusionbot.bot.service;

import java.util.List;
import java.util.UUID;
import org.diffusionbot.bot.jobs.JobService;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobStore;

/** {@code /cancel [job]} and the Cancel button: a user cancels one of their own queued or running jobs. */
public final class CancelService {
    private final JobService jobs;
    private final JobStore store;

    public CancelService(JobService jobs, JobStore store) {
        this.jobs = jobs;
        this.store = store;
    }

    /** What a cancel request came to. */
    public sealed interface Result {
        /** No job was named and the user has none queued or running. */
        record NoActiveJob() implements Result {
        }

        /** The text given is not a job id. */
        record NotAnId() implements Result {
        }

        /** No queued or running job of this user has that id. */
        record NotFound() implements Result {
        }

        /** Cancelled and refunded. */
        record Cancelled(JobRecord job) implements Result {
        }
    }

    /**
     * Cancels the named job of this user, or with no name their latest queued or running one; refunds it and tells
     * every worker to drop it.
     */
    public Result cancel(long userId, String jobId) {
        UUID id;
        if (jobId == null || jobId.isBlank()) {
            List<JobRecord> active = store.recentJobs(userId, 20).stream().filter(j -> !j.state().terminal()).toList();
            if (active.isEmpty()) {
                return new Result.NoActiveJob();
            }
            id = active.get(0).id();
        } else {
            try {
                id = UUID.fromString(jobId.trim());
            } catch (IllegalArgumentException e) {
                return new Result.NotAnId();
            }
        }
        return jobs.cancel(id, userId).<Result>map(Result.Cancelled::new).orElse(new Result.NotFound());
    }
}
