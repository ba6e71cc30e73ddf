package org.diffusionbot.db;

/** PostgreSQL cannot be reached or the schema cannot be brought up to date. */
public final class DatabaseUnavailableException extends RuntimeException {
    public DatabaseUnavailableException(String message) {
        super(message);
    }
}
