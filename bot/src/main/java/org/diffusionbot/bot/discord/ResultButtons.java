package org.diffusionbot.bot.discord;

import java.time.Clock;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.function.LongSupplier;
import net.dv8tion.jda.api.entities.Message;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.utils.FileUpload;
import net.dv8tion.jda.api.utils.messages.MessageEditBuilder;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.db.DatabaseUnavailableException;
import org.diffusionbot.db.ImageStore;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.JobStore;
import org.diffusionbot.db.NewJob;
import org.diffusionbot.db.StoredImage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The buttons under a finished job. Every press is acknowledged at once (deferred) on JDA's thread; the database
 * and broker work runs on the executor. Reroll, V and U are new jobs of the presser, charged to them like
 * {@code /imagine}, whose message is the press's own response; delete is for the author or an admin; info is
 * ephemeral.
 */
final class ResultButtons {
    private static final Logger LOG = LoggerFactory.getLogger(ResultButtons.class);
    /** img2img strength of a variation: a recognisable relative of the image. */
    static final double VARIATION_STRENGTH = 0.6;
    /** img2img strength of the second pass of an upscale: sharpen the enlarged image, keep its composition. */
    static final double UPSCALE_STRENGTH = 0.35;
    static final int UPSCALE_FACTOR = 2;
    /** Longest info message; beyond it the /imagine line is attached as a file. */
    static final int MAX_MESSAGE = 2000;

    private final JobStore store;
    private final UxContext ux;
    private final Submitter submitter;
    private final int previewEvery;
    private final ExecutorService executor;
    private final Clock clock;
    private final LongSupplier random;

    ResultButtons(JobStore store, UxContext ux, Submitter submitter, int previewEvery, ExecutorService executor,
            Clock clock, LongSupplier random) {
        this.store = store;
        this.ux = ux;
        this.submitter = submitter;
        this.previewEvery = previewEvery;
        this.executor = executor;
        this.clock = clock;
        this.random = random;
    }

    /** Handles a press of one of our result buttons; returns false when the id is not one of them. */
    boolean handle(ButtonInteractionEvent event, ButtonIds.Parsed b) {
        switch (b.action()) {
            case ButtonIds.REROLL, ButtonIds.VARIATION, ButtonIds.UPSCALE -> newJob(event, b);
            case ButtonIds.INFO -> ephemeral(event, hook -> info(hook, b.jobId()));
            case ButtonIds.DELETE -> {
                Caller caller = Caller.of(event, ux.adminRoleIds());
                ephemeral(event, hook -> delete(event, hook, caller, b.jobId()));
            }
            default -> {
                return false;
            }
        }
        return true;
    }

    private void newJob(ButtonInteractionEvent event, ButtonIds.Parsed b) {
        Caller caller = Caller.of(event, ux.adminRoleIds());
        InteractionHook hook = event.getHook();
        Instant expires = event.getTimeCreated().toInstant().plus(CommandListener.TOKEN_LIFETIME);
        long appId = event.getJDA().getSelfUser().getApplicationIdLong();
        long channelId = event.getChannelIdLong();
        Submitter.afterDefer(event.deferReply(), executor, () -> {
            NewJob job;
            try {
                job = derive(b, caller, channelId, appId, event.getToken(), expires);
            } catch (IllegalArgumentException e) {
                Submitter.refuse(hook, JobMessages.escape(e.getMessage()));
                return;
            } catch (DatabaseUnavailableException e) {
                LOG.error("button {} failed: {}", b, e.getMessage());
                Submitter.refuse(hook, "the job database is unavailable right now; nothing was charged.");
                return;
            } catch (RuntimeException e) {
                LOG.error("button {} failed", b, e);
                Submitter.refuse(hook, "something went wrong on our side; nothing was charged.");
                return;
            }
            submitter.submit(hook, caller, job);
        });
    }

    /**
     * The job a press asks for, from the stored request of the pressed job: reroll = the same request with a new
     * seed; V = img2img of one image at its size with a new seed; U = img2img of one image at twice its size, low
     * strength, same seed. Throws IllegalArgumentException (shown to the user, nothing charged) when it cannot be.
     */
    NewJob derive(ButtonIds.Parsed b, Caller caller, long channelId, long appId, String token, Instant expires) {
        JobRecord parent = store.find(b.jobId()).filter(j -> j.state() == JobState.SUCCEEDED)
                .orElseThrow(() -> new IllegalArgumentException("that job is gone"));
        JobRequest r = ux.images().request(b.jobId())
                .orElseThrow(() -> new IllegalArgumentException("that job is gone"));
        Instant now = clock.instant();
        long newSeed = random.getAsLong() & GenerationLimits.MAX_SEED;
        UUID id = UUID.randomUUID();
        String kind;
        Long parentImage = null;
        JobRequest req;
        if (b.action().equals(ButtonIds.REROLL)) {
            kind = "reroll";
            req = new JobRequest(id, r.model(), r.prompt(), r.negativePrompt(), r.width(), r.height(), r.steps(),
                    r.cfg(), r.sampler(), newSeed, r.count(), r.clipSkip(), r.initImage(), r.strength(), previewEvery,
                    now);
        } else {
            ImageStore.ImageRef im = ux.images().image(b.jobId(), b.index())
                    .orElseThrow(() -> new IllegalArgumentException("that image was deleted"));
            StoredImage s = im.image();
            parentImage = im.id();
            if (b.action().equals(ButtonIds.VARIATION)) {
                kind = "variation";
                req = new JobRequest(id, r.model(), r.prompt(), r.negativePrompt(), s.width(), s.height(), r.steps(),
                        r.cfg(), r.sampler(), newSeed, 1, r.clipSkip(), s.png(), VARIATION_STRENGTH, previewEvery, now);
            } else {
                kind = "upscale";
                int w = s.width() * UPSCALE_FACTOR;
                int h = s.height() * UPSCALE_FACTOR;
                try {
                    GenerationLimits.checkSize(w, h);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("this image cannot be upscaled: 2× is " + w + "x" + h
                            + ", beyond the size limit (" + e.getMessage() + "). Nothing was charged.");
                }
                req = new JobRequest(id, r.model(), r.prompt(), r.negativePrompt(), w, h, r.steps(), r.cfg(),
                        r.sampler(), s.seed(), 1, r.clipSkip(), s.png(), UPSCALE_STRENGTH, previewEvery, now);
            }
        }
        LOG.info("{} of job {} (image {}) by user {} as job {}", kind, parent.id(), b.index(), caller.userId(), id);
        return new NewJob(req, caller.userId(), caller.userName(), caller.guildId(), channelId, kind, parentImage,
                appId, token, expires);
    }

    private String info(InteractionHook hook, UUID jobId) {
        Optional<JobRecord> job = store.find(jobId);
        if (job.isEmpty()) {
            return "❌ That job is gone.";
        }
        List<Long> seeds = store.images(jobId).stream().map(StoredImage::seed).toList();
        String text = JobMessages.info(job.get(), seeds);
        String line = JobMessages.imagineLine(job.get());
        String block = "\n```\n" + JobMessages.code(line) + "\n```";
        if (text.length() + block.length() <= MAX_MESSAGE) {
            return text + block;
        }
        hook.editOriginal(new MessageEditBuilder().setContent(JobMessages.shorten(text, MAX_MESSAGE - 40)
                        + " (attached)")
                .setAllowedMentions(EnumSet.noneOf(Message.MentionType.class))
                .setFiles(FileUpload.fromData(line.getBytes(java.nio.charset.StandardCharsets.UTF_8), "imagine.txt"))
                .build()).queue();
        return null;
    }

    private String delete(ButtonInteractionEvent event, InteractionHook hook, Caller caller, UUID jobId) {
        Optional<JobRecord> job = store.find(jobId);
        if (job.isEmpty()) {
            return "❌ That job is gone.";
        }
        boolean author = job.get().userId() == caller.userId();
        if (!author && !caller.admin()) {
            LOG.info("user {} may not delete job {} of user {}", caller.userId(), jobId, job.get().userId());
            return "❌ Only the author of these images or an admin can delete them.";
        }
        int hidden = ux.images().hideImages(jobId, caller.userId());
        LOG.info("job {} deleted by user {} ({}; {} image(s) hidden)", jobId, caller.userId(),
                author ? "author" : "admin", hidden);
        // the channel route: JDA's Message#delete on an interaction message would use the press's own token
        JobRecord j = job.get();
        event.getMessageChannel().deleteMessageById(event.getMessageIdLong()).queue(ok -> { }, err -> {
            if (j.interactionToken() != null && j.tokenExpiresAt() != null
                    && clock.instant().isBefore(j.tokenExpiresAt())
                    && event.getMessageIdLong() != 0) {
                InteractionHook.from(event.getJDA(), j.interactionToken()).deleteOriginal().queue(ok -> { },
                        err2 -> LOG.warn("deleting the message of job {} failed: {}", jobId, err2.getMessage()));
            } else {
                LOG.warn("deleting the message of job {} failed: {}", jobId, err.getMessage());
            }
        });
        return "🗑️ Deleted.";
    }

    interface HookWork {
        /** The answer, or null when the work answered itself. */
        String run(InteractionHook hook);
    }

    private void ephemeral(ButtonInteractionEvent event, HookWork work) {
        event.deferReply(true).queue();
        InteractionHook hook = event.getHook();
        executor.execute(() -> {
            String answer;
            try {
                answer = work.run(hook);
            } catch (DatabaseUnavailableException e) {
                LOG.error("button {} failed: {}", event.getComponentId(), e.getMessage());
                answer = "❌ The job database is unavailable right now. Please try again in a minute.";
            } catch (RuntimeException e) {
                LOG.error("button {} failed", event.getComponentId(), e);
                answer = "❌ Something went wrong on our side.";
            }
            if (answer != null) {
                hook.editOriginal(answer).setAllowedMentions(EnumSet.noneOf(Message.MentionType.class)).queue();
            }
        });
    }
}
