package org.diffusionbot.worker.engine.pipeline;

import java.util.List;

/** How one {@link GenerationRequest} of a batch ended. */
public sealed interface RequestResult {
    /** Notes for the user about adjustments (a long prompt encoded in chunks, init image resized). */
    List<String> notes();

    /** Images in seed order. */
    record Success(List<RgbImage> images, List<String> notes) implements RequestResult {
        public Success {
            images = List.copyOf(images);
            notes = List.copyOf(notes);
        }
    }

    /** No images; {@code message} is a sentence for the user. */
    record Failure(Reason reason, String message, List<String> notes) implements RequestResult {
        public Failure {
            notes = List.copyOf(notes);
        }
    }

    /** Why a request failed. */
    enum Reason {
        /** The request cannot be run (e.g. an init image that is not a PNG/JPEG). */
        INVALID_INPUT,
        /** The model produced NaN or Inf values. */
        NUMERICAL,
        /** Cancelled by the caller. */
        CANCELLED
    }
}
