package org.diffusionbot.worker.runtime;

import java.util.List;
import org.diffusionbot.common.messages.JobFailure;

/** How one job of a batch ended. */
public sealed interface JobOutcome {

    /** Images in job order; {@code notes} tell the user about adjustments (prompt cut, image resized). */
    record Succeeded(List<Image> images, List<String> notes, java.util.Map<String, String> infotext)
            implements JobOutcome {
        /**
         * @param images the images
         * @param notes notes for the user (long prompt in chunks, init image resized...)
         * @param infotext more AUTOMATIC1111 fields for the images' {@code parameters} ({@code Lora hashes},
         *     {@code TI hashes}), in order
         */
        public Succeeded {
            infotext = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(infotext));
        }

        /** Without add-on fields. */
        public Succeeded(List<Image> images, List<String> notes) {
            this(images, notes, java.util.Map.of());
        }
    }

    /** A permanent failure: retrying elsewhere would fail the same way. */
    record Failed(JobFailure.Code code, String message) implements JobOutcome {
    }

    /**
     * One generated image as interleaved 8-bit RGB.
     *
     * @param safety the image safety check's verdict, or null when the image was not checked
     */
    record Image(int index, long seed, int width, int height, byte[] rgb, Safety safety) {
        /** An unchecked image. */
        public Image(int index, long seed, int width, int height, byte[] rgb) {
            this(index, seed, width, height, rgb, null);
        }

        /** @return this image with the check's verdict */
        public Image withSafety(Safety verdict) {
            return new Image(index, seed, width, height, rgb, verdict);
        }
    }

    /**
     * The image safety check's verdict on an image.
     *
     * @param nsfw whether the checker flagged it
     * @param score the checker's highest concept score (positive when flagged)
     */
    record Safety(boolean nsfw, float score) {
    }
}
