package org.diffusionbot.db;

/**
 * A database operation failed. The subclasses say what happened: {@link DatabaseUnavailableException} (PostgreSQL
 * cannot be reached, or the schema cannot be migrated) and {@link ConstraintViolationException} (a row broke a
 * table constraint: a bug or a race, not an outage). Anything else is this class itself. Built only by
 * {@link Jdbc#failure}, the one place that reads SQLSTATEs.
 */
public class DatabaseException extends RuntimeException {
    public DatabaseException(String message) {
        super(message);
    }

    public DatabaseException(String message, Throwable cause) {
        super(message, cause);
    }
}
