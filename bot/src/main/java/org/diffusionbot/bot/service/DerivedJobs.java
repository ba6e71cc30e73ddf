package org.diffusionbot.bot.service;

import java.time.Clock;
import java.util.UUID;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.ModelSpec;
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
 * image at twice its size, low strength, same seed. Everything the new job needs is checked before it is charged:
 * the parent and its image exist, the size limits of the model's family ({@link ModelFamily#checkSize}), every rule
 * of {@link JobRequest}, and that an img2img job runs at
 * least one denoising step ({@link GenerationLimits#checkImg2img}).
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
    private final Function<String, ModelSpec> specs;

    /** @param specs what each model is (its family's limits): the worker registry's {@code spec} */
    public DerivedJobs(JobStore store, ImageStore images, Function<String, ModelSpec> specs, int previewEvery,
            Clock clock, LongSupplier random) {
        this.specs = specs;
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
        ImageStore.ImageRef im = null;
        if (kind != Kind.REROLL) {
            im = images.image(jobId, index).orElseThrow(() -> new IllegalArgumentException(
                    "that image was deleted, or flagged by the image safety check"));
        }
        JobRequest req = request(kind, r, im == null ? null : im.image());
        LOG.info("{} of job {} (image {}) by user {} as job {}", kind.id, parent.id(), index, caller.userId(),
                req.jobId());
        return SubmitService.newJob(req, caller, origin, kind.id, im == null ? null : im.id());
    }

    /**
     * The request of the new job: {@link JobRequest#derive} of the parent's request (every setting carried over)
     * with what the kind sets anew.
     *
     * @param image the pressed image (variation, upscale); null for a reroll
     * @throws IllegalArgumentException (the message for the user) when the new job breaks a limit
     */
    JobRequest request(Kind kind, JobRequest r, StoredImage image) {
        long seed = random.getAsLong() & GenerationLimits.MAX_SEED;
        int width = r.width();
        int height = r.height();
        int count = r.count();
        byte[] init = r.initImage();
        Double strength = r.strength();
        if (kind != Kind.REROLL) {
            count = 1;
            init = image.png();
            width = image.width();
            height = image.height();
            strength = VARIATION_STRENGTH;
            if (kind == Kind.UPSCALE) {
                width *= UPSCALE_FACTOR;
                height *= UPSCALE_FACTOR;
                try {
                    specs.apply(r.model()).family().checkSize(width, height);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("this image cannot be upscaled: 2× is " + width + "x" + height
                            + ", beyond the size limit (" + e.getMessage() + "). Nothing was charged.");
                }
                strength = UPSCALE_STRENGTH;
                seed = image.seed();
            }
        }
        try {
            // everything a job needs, checked before anything is charged: the request's limits (its constructor)
            // and at least one denoising step, which the worker would otherwise fail after the charge
            JobRequest req = r.derive(UUID.randomUUID(), width, height, seed, count, init, strength, previewEvery,
                    clock.instant());
            if (strength != null) {
                GenerationLimits.checkImg2img(r.steps(), strength);
            }
            return req;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("this " + kind.id + " cannot be made: " + e.getMessage()
                    + ". Nothing was charged.");
        }
    }
}
