package org.diffusionbot.worker.hub;

/** A Hugging Face repository could not be resolved or downloaded; the message says why and what to do. */
public final class HubException extends RuntimeException {
    public HubException(String message) {
        super(message);
    }

    public HubException(String message, Throwable cause) {
        super(message, cause);
    }
}
