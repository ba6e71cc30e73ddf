package org.diffusionbot.worker.runtime;

import java.util.List;
import org.diffusionbot.common.messages.JobFailure;

/** How one job of a batch ended. */
public sealed interface JobOutcome {

    /** Images in job order; {@code notes} tell the user about adjustments (prompt cut, image resized). */
    record Succeeded(List<Image> images, List<String> notes) implements JobOutcome {
    }

    /** A permanent failure: retrying elsewhere would fail the same way. */
    record Failed(JobFailure.Code code, String message) implements JobOutcome {
    }

    /** One generated image as interleaved 8-bit RGB. */
    record Image(int index, long seed, int width, int height, byte[] rgb) {
    }
}
