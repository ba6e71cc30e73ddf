package org.diffusionbot.db;

/**
 * A statement broke a table constraint (SQLSTATE class 23: not null, foreign key, unique, check). The database is
 * up; the row was wrong. Retrying the same statement fails the same way.
 */
public final class ConstraintViolationException extends DatabaseException {
    public ConstraintViolationException(String message, Throwable cause) {
        super(message, cause);
    }
}
