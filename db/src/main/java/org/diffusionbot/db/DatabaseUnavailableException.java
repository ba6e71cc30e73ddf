package org.diffusionbot.db;

/**
 * PostgreSQL cannot be reached (no connection from the pool, the connection broke, the server is shutting down or
 * out of resources: SQLSTATE classes 08, 53 and 57) or the schema cannot be brought up to date. Worth retrying later.
 */
public final class DatabaseUnavailableException extends DatabaseException {
    public DatabaseUnavailableException(String message) {
        super(message);
    }

    public DatabaseUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
