package org.diffusionbot.bot.discord;

import java.util.EnumSet;
import net.dv8tion.jda.api.entities.Message;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.utils.messages.MessageEditBuilder;
import org.diffusionbot.bot.jobs.JobService;
import org.diffusionbot.bot.jobs.ProgressThrottle;
import org.diffusionbot.db.DatabaseUnavailableException;
import org.diffusionbot.db.NewJob;
import org.diffusionbot.db.QuotaPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Submits a job for a deferred (public) interaction and shows the answer: the queue position under the original
 * response if the job is still waiting for a worker {@link org.diffusionbot.bot.Bot#EDIT_INTERVAL} later (one that
 * starts sooner goes straight to its progress), or a refusal only the user sees (the public placeholder is deleted).
 * Runs on the executor. A paused bot refuses before anything is charged; the member's role quota, if any, is the
 * policy.
 */
final class Submitter {
    private static final Logger LOG = LoggerFactory.getLogger(Submitter.class);

    private final JobService jobs;
    private final UxContext ux;
    private final ProgressThrottle throttle;
    private final java.util.concurrent.Executor executor;

    Submitter(JobService jobs, UxContext ux, ProgressThrottle throttle, java.util.concurrent.Executor executor) {
        this.jobs = jobs;
        this.ux = ux;
        this.throttle = throttle;
        this.executor = executor;
    }

    QuotaPolicy policyFor(Caller caller) {
        return ux.settings().policyFor(caller.guildId(), caller.roleIds(), jobs.policy());
    }

    void submit(InteractionHook hook, Caller caller, NewJob job) {
        boolean paused;
        QuotaPolicy policy;
        try {
            paused = ux.settings().paused();
            policy = paused ? null : policyFor(caller);
        } catch (DatabaseUnavailableException e) {
            LOG.error("submitting job {} failed: {}", job.request().jobId(), e.getMessage());
            refuse(hook, "the job database is unavailable right now; nothing was charged. Please try again in a minute.");
            return;
        }
        submit(hook, job, paused, policy);
    }

    /** As {@link #submit(InteractionHook, Caller, NewJob)} with the pause flag and the member's policy already read. */
    void submit(InteractionHook hook, NewJob job, boolean paused, QuotaPolicy policy) {
        JobService.Outcome outcome;
        try {
            if (paused) {
                outcome = new JobService.Outcome.Refused(JobMessages.PAUSED);
            } else {
                // recorded, not yet published: no worker output can come before this registration
                outcome = jobs.submit(job, policy, q -> throttle.queued(q.jobId(),
                        () -> executor.execute(() -> showPosition(hook, job, q))));
            }
        } catch (DatabaseUnavailableException e) {
            LOG.error("submitting job {} failed: {}", job.request().jobId(), e.getMessage());
            outcome = new JobService.Outcome.Refused("the job database is unavailable right now; nothing was charged."
                    + " Please try again in a minute.");
        } catch (RuntimeException e) {
            LOG.error("submitting job {} failed", job.request().jobId(), e);
            outcome = new JobService.Outcome.Refused("something went wrong on our side; nothing was charged.");
        }
        if (outcome instanceof JobService.Outcome.Queued q && q.delayed()
                && jobs.isQueued(q.jobId())) {
            hook.editOriginal(new MessageEditBuilder()
                    .setContent(JobMessages.queuedDelayed(job.request().prompt(), q.quota()))
                    .setAllowedMentions(EnumSet.noneOf(Message.MentionType.class))
                    .setComponents(DiscordNotifier.cancelRow(q.jobId())).build()).queue();
        } else if (outcome instanceof JobService.Outcome.Refused r) {
            throttle.finished(job.request().jobId()); // recorded but unroutable: no queue position to show
            refuse(hook, r.message());
        }
    }

    /** The job still waits for a worker an edit interval after it was queued: show where it stands now. */
    private void showPosition(InteractionHook hook, NewJob job, JobService.Outcome.Queued q) {
        int position;
        try {
            position = jobs.queuePosition(q.jobId());
        } catch (RuntimeException e) {
            LOG.warn("queue position of job {} unknown: {}", q.jobId(), e.getMessage());
            position = -1; // shown as queued, without a place
        }
        String text = JobMessages.queued(job.request().prompt(), position, q.quota());
        throttle.ifStillWaiting(q.jobId(), () -> hook.editOriginal(new MessageEditBuilder().setContent(text)
                .setAllowedMentions(EnumSet.noneOf(Message.MentionType.class))
                .setComponents(DiscordNotifier.cancelRow(q.jobId())).build()).queue());
    }

    /** The deferred reply is public; a refusal is for the user's eyes only. */
    /**
     * Runs {@code work} on {@code executor} once Discord acknowledged the deferral. Submitting only
     * then means the original response exists before any progress or result edits it (an edit that
     * overtook the deferral would find no message), and an interaction that expired before it was
     * acknowledged charges nothing.
     */
    static void afterDefer(net.dv8tion.jda.api.requests.RestAction<?> defer, java.util.concurrent.Executor executor,
            Runnable work) {
        defer.queue(ok -> executor.execute(work),
                err -> LOG.warn("interaction not acknowledged ({}); nothing was submitted", err.getMessage()));
    }

    static void refuse(InteractionHook hook, String message) {
        hook.deleteOriginal().queue(ok -> { }, err -> { });
        hook.sendMessage("❌ " + message).setEphemeral(true)
                .setAllowedMentions(EnumSet.noneOf(Message.MentionType.class)).queue();
    }
}
