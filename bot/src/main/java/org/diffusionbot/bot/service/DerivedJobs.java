package org.diffusionbot.bot.service;

import java.time.Clock;
import java.time.Instant;
import java.util.UUID;
import java.util.function.LongSupplier;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.db.ImageStore;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.JobStore;
import org.diffusionbot.db.NewJob;
import org.diffusionbot.db.StoredImage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The jobs a press under a finished job asks for, derived from the pressed job's stored request: reroll = the same
 * request with a new seed; variation = img2img of one image at its size with a new seed; upscale = img2img of one
 * image at twice its size, low strength, same seed.
 */
public final class DerivedJobs {
    private static final Logger LOG = LoggerFactory.getLogger(DerivedJobs.class);
    /** img2img strength of a variation: a recognisable relative of the image. */
    public static final double VARIATION_STRENGTH = 0.6;
    /** img2img strength of the second pass of an upscale: sharpen the enlarged image, keep its composition. */
    public static final double UPSCALE_STRENGTH = 0.35;
    public static final int UPSCALE_FACTOR = 2;

    /** What the press asks for. */
    public enum Kind {
        REROLL("reroll"), VARIATION("variation"), UPSCALE("upscale");

        /** The job's {@code kind} column. */
        public final String id;

        Kind(String id) {
            this.id = id;
        }
    }

    private final JobStore store;
    private final ImageStore images;
    private final int previewEvery;
    private final Clock clock;
    private final LongSupplier random;

    public DerivedJobs(JobStore store, ImageStore images, int previewEvery, Clock clock, LongSupplier random) {
        this.store = store;
        this.images = images;
        this.previewEvery = previewEvery;
        this.clock = clock;
        this.random = random;
    }

    /**
     * The new job of {@code caller} that a press asks for ({@code index}: the image, for variation and upscale).
     * Throws IllegalArgumentException (the message for the user; nothing is charged) when it cannot be made.
     */
    public NewJob derive(Kind kind, UUID jobId, int index, Caller caller, Origin origin) {
        JobRecord parent = store.find(jobId).filter(j -> j.state() == JobState.SUCCEEDED)
                .orElseThrow(() -> new IllegalArgumentException("that job is gone"));
        JobRequest r = images.request(jobId).orElseThrow(() -> new IllegalArgumentException("that job is gone"));
        Instant now = clock.instant();
        long newSeed = random.getAsLong() & GenerationLimits.MAX_SEED;
        UUID id = UUID.randomUUID();
        Long parentImage = null;
        JobRequest req;
        if (kind == Kind.REROLL) {
            req = new JobRequest(id, r.model(), r.prompt(), r.negativePrompt(), r.width(), r.height(), r.steps(),
                    r.cfg(), r.sampler(), newSeed, r.count(), r.clipSkip(), r.initImage(), r.strength(), previewEvery,
                    now);
        } else {
            ImageStore.ImageRef im = images.image(jobId, index)
                    .orElseThrow(() -> new IllegalArgumentException("that image was deleted"));
            StoredImage s = im.image();
            parentImage = im.id();
            if (kind == Kind.VARIATION) {
                req = new JobRequest(id, r.model(), r.prompt(), r.negativePrompt(), s.width(), s.height(), r.steps(),
                        r.cfg(), r.sampler(), newSeed, 1, r.clipSkip(), s.png(), VARIATION_STRENGTH, previewEvery, now);
            } else {
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
        LOG.info("{} of job {} (image {}) by user {} as job {}", kind.id, parent.id(), index, caller.userId(), id);
        return SubmitService.newJob(req, caller, origin, kind.id, parentImage);
    }
}
