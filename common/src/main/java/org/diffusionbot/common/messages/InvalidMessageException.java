package org.diffusionbot.common.messages;

/**
 * A message off the queue that cannot be used: not JSON, an unknown type, another schema version,
 * a missing or malformed field. Consumers log {@link #getMessage()} (one line) and dead-letter it.
 */
public final class InvalidMessageException extends Exception {
    public InvalidMessageException(String message) {
        super(message);
    }
}
