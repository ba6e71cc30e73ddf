package org.diffusionbot.db;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Optional;

/**
 * A keyset position in the gallery's order (newest first): the page after it holds the images strictly
 * older than ({@code createdAt}, {@code id}). Written in URLs as {@code <epoch microseconds>-<id>}, the
 * precision PostgreSQL keeps timestamps in, so the cursor of the last image of a page is exact.
 */
public record GalleryCursor(Instant createdAt, long id) {
    public GalleryCursor {
        createdAt = createdAt.truncatedTo(ChronoUnit.MICROS);
    }

    public String token() {
        long micros = ChronoUnit.MICROS.between(Instant.EPOCH, createdAt);
        return micros + "-" + id;
    }

    /** Parses {@link #token()}; empty when the text is not one (the caller answers 400). */
    public static Optional<GalleryCursor> parse(String token) {
        if (token == null || token.length() > 40) {
            return Optional.empty();
        }
        int dash = token.indexOf('-', 1);
        if (dash < 0) {
            return Optional.empty();
        }
        try {
            long micros = Long.parseLong(token.substring(0, dash));
            long id = Long.parseLong(token.substring(dash + 1));
            if (micros < 0 || id < 0) {
                return Optional.empty();
            }
            return Optional.of(new GalleryCursor(Instant.EPOCH.plus(micros, ChronoUnit.MICROS), id));
        } catch (NumberFormatException | ArithmeticException | java.time.DateTimeException e) {
            return Optional.empty();
        }
    }
}
