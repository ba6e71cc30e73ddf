package org.diffusionbot.bot.discord;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;
import net.dv8tion.jda.api.interactions.InteractionHook;
import org.diffusionbot.bot.service.Caller;
import org.diffusionbot.bot.service.DerivedJobs;
import org.diffusionbot.bot.service.Failures;
import org.diffusionbot.bot.service.Origin;
import org.diffusionbot.bot.service.SubmitService;
import org.diffusionbot.db.NewJob;

/**
 * 🔄 Reroll, V1–V4 and U1–U4 under a finished job: each press is a new job of the presser, charged to them like
 * {@code /imagine}, whose message is the press's own (public) response. Acknowledged at once; derived and submitted
 * on the executor.
 */
final class NewJobButtons implements ButtonFamily {
    private static final Map<String, DerivedJobs.Kind> KINDS = Map.of(ButtonIds.REROLL, DerivedJobs.Kind.REROLL,
            ButtonIds.VARIATION, DerivedJobs.Kind.VARIATION, ButtonIds.UPSCALE, DerivedJobs.Kind.UPSCALE);

    private final DerivedJobs derived;
    private final SubmitService submit;
    private final Submitter submitter;
    private final Set<Long> adminRoleIds;
    private final Executor executor;

    NewJobButtons(DerivedJobs derived, SubmitService submit, Submitter submitter, Set<Long> adminRoleIds,
            Executor executor) {
        this.derived = derived;
        this.submit = submit;
        this.submitter = submitter;
        this.adminRoleIds = adminRoleIds;
        this.executor = executor;
    }

    @Override
    public Set<String> actions() {
        return KINDS.keySet();
    }

    @Override
    public void handle(ButtonInteractionEvent event, ButtonIds.Parsed b) {
        Caller caller = Callers.of(event, adminRoleIds);
        InteractionHook hook = event.getHook();
        Origin origin = Replies.origin(event);
        Replies.afterDefer(event.deferReply(), executor, () -> {
            NewJob job;
            SubmitService.Prepared prepared;
            try {
                job = derived.derive(KINDS.get(b.action()), b.jobId(), b.index(), caller, origin);
                prepared = submit.prepare(caller);
            } catch (IllegalArgumentException e) {
                Replies.refuse(hook, JobMessages.escape(e.getMessage()));
                return;
            } catch (RuntimeException e) {
                Replies.refuse(hook, Failures.forUser("button " + b, e, true));
                return;
            }
            submitter.submit(hook, job, prepared);
        });
    }
}
