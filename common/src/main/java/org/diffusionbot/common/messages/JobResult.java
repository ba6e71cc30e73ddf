package org.diffusionbot.common.messages;

import java.time.Instant;
import java.util.List;
import java.util.UUID;

/**
 * The finished images of a job, published to the durable results queue; the worker acks the job
 * only after the broker confirmed this message.
 *
 * @param notes things the user should know (a long prompt encoded in chunks, an init image resized)
 * @param safety the image safety check's verdicts, one per checked image ({@link OptionalField}; absent, null
 *               or empty: no image was checked — an age-restricted channel, or a worker without a checker)
 */
public record JobResult(
        UUID jobId,
        String workerId,
        List<Image> images,
        Timings timings,
        List<String> notes,
        Instant finishedAt,
        @OptionalField List<Safety> safety) implements Message {

    /** One generated image: PNG bytes with the parameters in a {@code parameters} tEXt chunk. */
    public record Image(int index, long seed, int width, int height, byte[] png) {
        public Image {
            Checks.range("image.index", index, 0, 63);
            Checks.notNull("image.png", png);
            if (png.length == 0) {
                throw new IllegalArgumentException("image.png is empty");
            }
        }
    }

    /**
     * The safety checker's verdict on one image.
     *
     * @param index the image's index
     * @param nsfw whether the checker flagged it
     * @param score the checker's highest concept score (positive when flagged)
     */
    public record Safety(int index, boolean nsfw, double score) {
        public Safety {
            Checks.range("safety.index", index, 0, 63);
            if (!Double.isFinite(score)) {
                throw new IllegalArgumentException("safety.score must be a finite number");
            }
        }
    }

    /** Where the time went, in milliseconds. */
    public record Timings(long queuedMillis, long generateMillis, long totalMillis) {
    }

    public JobResult {
        Checks.notNull("job_id", jobId);
        Checks.notBlank("worker_id", workerId, 200);
        images = Checks.list("images", images, 64);
        if (images.isEmpty()) {
            throw new IllegalArgumentException("images must not be empty");
        }
        Checks.notNull("timings", timings);
        notes = Checks.list("notes", notes, 32);
        Checks.notNull("finished_at", finishedAt);
        safety = safety == null ? List.of() : Checks.list("safety", safety, 64);
        for (Safety v : safety) {
            if (images.stream().noneMatch(i -> i.index() == v.index())) {
                throw new IllegalArgumentException("safety names image " + v.index() + ", which the result does not have");
            }
        }
    }

    /** A result without safety verdicts. */
    public JobResult(UUID jobId, String workerId, List<Image> images, Timings timings, List<String> notes,
            Instant finishedAt) {
        this(jobId, workerId, images, timings, notes, finishedAt, List.of());
    }

    /** @return the verdict on image {@code index}, or null when it was not checked */
    public Safety safetyOf(int index) {
        return safety.stream().filter(v -> v.index() == index).findFirst().orElse(null);
    }
}
