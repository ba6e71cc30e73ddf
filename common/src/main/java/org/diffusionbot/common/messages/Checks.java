package org.diffusionbot.common.messages;

import java.util.List;

/** Preconditions for message records: each failure is an {@link IllegalArgumentException} naming the field. */
final class Checks {
    private Checks() {
    }

    static <T> T notNull(String field, T value) {
        if (value == null) {
            throw new IllegalArgumentException(field + " is required");
        }
        return value;
    }

    static String notBlank(String field, String value, int maxLength) {
        notNull(field, value);
        if (value.isBlank()) {
            throw new IllegalArgumentException(field + " must not be empty");
        }
        if (value.length() > maxLength) {
            throw new IllegalArgumentException(field + " is longer than " + maxLength + " characters");
        }
        return value;
    }

    static int range(String field, int value, int min, int max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(field + " must be between " + min + " and " + max + ", got " + value);
        }
        return value;
    }

    static <T> List<T> list(String field, List<T> value, int maxSize) {
        notNull(field, value);
        if (value.size() > maxSize) {
            throw new IllegalArgumentException(field + " has " + value.size() + " entries, at most " + maxSize);
        }
        for (T t : value) {
            notNull(field + " entry", t);
        }
        return List.copyOf(value);
    }
}
