package org.diffusionbot.bot.discord;

import java.util.EnumSet;
import net.dv8tion.jda.api.entities.Message;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.utils.messages.MessageEditBuilder;
import org.diffusionbot.bot.jobs.JobService;
import org.diffusionbot.db.DatabaseUnavailableException;
import org.diffusionbot.db.NewJob;
import org.diffusionbot.db.QuotaPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Submits a job for a deferred (public) interaction and shows the answer: the queue position under the original
 * response, or a refusal only the user sees (the public placeholder is deleted). Runs on the executor. A paused bot
 * refuses before anything is charged; the member's role quota, if any, is the policy.
 */
final class Submitter {
    private static final Logger LOG = LoggerFactory.getLogger(Submitter.class);

    private final JobService jobs;
    private final UxContext ux;

    Submitter(JobService jobs, UxContext ux) {
        this.jobs = jobs;
        this.ux = ux;
    }

    QuotaPolicy policyFor(Caller caller) {
        return ux.settings().policyFor(caller.guildId(), caller.roleIds(), jobs.policy());
    }

    void submit(InteractionHook hook, Caller caller, NewJob job) {
        JobService.Outcome outcome;
        try {
            if (ux.settings().paused()) {
                outcome = new JobService.Outcome.Refused(JobMessages.PAUSED);
            } else {
                outcome = jobs.submit(job, policyFor(caller), q -> hook.editOriginal(new MessageEditBuilder()
                        .setContent(JobMessages.queued(job.request().prompt(), q.position(), q.quota()))
                        .setAllowedMentions(EnumSet.noneOf(Message.MentionType.class))
                        .setComponents(DiscordNotifier.cancelRow(q.jobId())).build()).queue());
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
            refuse(hook, r.message());
        }
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
