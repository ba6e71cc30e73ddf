package org.diffusionbot.bot.jobs;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.StoredImage;

/**
 * Shows a job's progress and outcome to its user (the Discord side implements it). The futures of
 * the final deliveries complete normally when the user was shown the outcome, or when that is
 * permanently impossible (channel deleted); exceptionally when it should be retried.
 */
public interface JobNotifier {
    void progress(JobRecord job, ProgressThrottle.Edit edit);

    CompletableFuture<Void> succeeded(JobRecord job, List<StoredImage> images, List<String> notes);

    CompletableFuture<Void> failed(JobRecord job, String message);
}
