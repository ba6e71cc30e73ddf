package org.diffusionbot.common.messages;

import java.time.Instant;
import java.util.List;
import java.util.UUID;

/**
 * The finished images of a job, published to the durable results queue; the worker acks the job
 * only after the broker confirmed this message.
 *
 * @param notes things the user should know (a long prompt encoded in chunks, an init image resized)
 */
public record JobResult(
        UUID jobId,
        String workerId,
        List<Image> images,
        Timings timings,
        List<String> notes,
        Instant finishedAt) implements Message {

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
    }
}
