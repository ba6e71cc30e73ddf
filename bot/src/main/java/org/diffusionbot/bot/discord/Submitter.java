package org.diffusionbot.bot.discord;

import java.util.concurrent.Executor;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.utils.messages.MessageEditBuilder;
import org.diffusionbot.bot.jobs.JobService;
import org.diffusionbot.bot.jobs.ProgressThrottle;
import org.diffusionbot.bot.service.SubmitService;
import org.diffusionbot.db.NewJob;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shows a submission under a deferred (public) interaction: the queue position under the original response if the
 * job is still waiting for a worker {@link org.diffusionbot.bot.Bot#EDIT_INTERVAL} later (one that starts sooner goes
 * straight to its progress), or a refusal only the user sees (the public placeholder is deleted). Runs on the
 * executor.
 */
final class Submitter {
    private static final Logger LOG = LoggerFactory.getLogger(Submitter.class);

    private final SubmitService submit;
    private final ProgressThrottle throttle;
    private final Executor executor;

    Submitter(SubmitService submit, ProgressThrottle throttle, Executor executor) {
        this.submit = submit;
        this.throttle = throttle;
        this.executor = executor;
    }

    void submit(InteractionHook hook, NewJob job, SubmitService.Prepared prepared) {
        // recorded, not yet published: no worker output can come before this registration
        JobService.Outcome outcome = submit.submit(job, prepared, q -> throttle.queued(q.jobId(),
                () -> executor.execute(() -> showPosition(hook, job, q))));
        if (outcome instanceof JobService.Outcome.Queued q && q.delayed() && submit.isQueued(q.jobId())) {
            hook.editOriginal(new MessageEditBuilder()
                    .setContent(JobMessages.queuedDelayed(job.request().prompt(), q.quota()))
                    .setAllowedMentions(Replies.NO_MENTIONS)
                    .setComponents(DiscordNotifier.cancelRow(q.jobId())).build()).queue();
        } else if (outcome instanceof JobService.Outcome.Refused r) {
            throttle.finished(job.request().jobId()); // recorded but unroutable: no queue position to show
            Replies.refuse(hook, r.message());
        }
    }

    /** The job still waits for a worker an edit interval after it was queued: show where it stands now. */
    private void showPosition(InteractionHook hook, NewJob job, JobService.Outcome.Queued q) {
        int position;
        try {
            position = submit.queuePosition(q.jobId());
        } catch (RuntimeException e) {
            LOG.warn("queue position of job {} unknown: {}", q.jobId(), e.getMessage());
            position = -1; // shown as queued, without a place
        }
        String text = JobMessages.queued(job.request().prompt(), position, q.quota());
        throttle.ifStillWaiting(q.jobId(), () -> hook.editOriginal(new MessageEditBuilder().setContent(text)
                .setAllowedMentions(Replies.NO_MENTIONS)
                .setComponents(DiscordNotifier.cancelRow(q.jobId())).build()).queue());
    }
}
