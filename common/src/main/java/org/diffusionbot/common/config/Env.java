package org.diffusionbot.common.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * Typed, validated access to environment variables. Every getter either returns a valid value or
 * throws a {@link ConfigException} whose one-line message names the variable, what was wrong and
 * what to set instead. Tests pass a map instead of the real environment.
 */
public final class Env {
    private final Map<String, String> vars;

    private Env(Map<String, String> vars) {
        this.vars = Map.copyOf(vars);
    }

    public static Env system() {
        return new Env(System.getenv());
    }

    public static Env of(Map<String, String> vars) {
        return new Env(vars);
    }

    /** The raw value, or null when the variable is unset or blank. */
    public String raw(String name) {
        String v = vars.get(name);
        return v == null || v.isBlank() ? null : v.trim();
    }

    public String string(String name, String defaultValue) {
        String v = raw(name);
        return v == null ? defaultValue : v;
    }

    public String required(String name, String howToFix) {
        String v = raw(name);
        if (v == null) {
            throw new ConfigException(name + " is not set: " + howToFix);
        }
        return v;
    }

    public int integer(String name, int defaultValue, int min, int max) {
        return parse(name, defaultValue, s -> {
            int v = Integer.parseInt(s);
            if (v < min || v > max) {
                throw new IllegalArgumentException();
            }
            return v;
        }, "a whole number between " + min + " and " + max);
    }

    public boolean bool(String name, boolean defaultValue) {
        return parse(name, defaultValue, s -> switch (s.toLowerCase(Locale.ROOT)) {
            case "true", "yes", "1", "on" -> true;
            case "false", "no", "0", "off" -> false;
            default -> throw new IllegalArgumentException();
        }, "true or false");
    }

    /** A duration in seconds (a plain number, fractions allowed) between the bounds. */
    public Duration seconds(String name, Duration defaultValue, Duration min, Duration max) {
        return parse(name, defaultValue, s -> {
            double secs = Double.parseDouble(s);
            Duration d = Duration.ofNanos(Math.round(secs * 1e9));
            if (!Double.isFinite(secs) || d.compareTo(min) < 0 || d.compareTo(max) > 0) {
                throw new IllegalArgumentException();
            }
            return d;
        }, "a number of seconds between " + min.toMillis() / 1000.0 + " and " + max.toMillis() / 1000.0);
    }

    /** A URI whose scheme is one of {@code schemes}. */
    public URI uri(String name, String defaultValue, String... schemes) {
        String v = string(name, defaultValue);
        Objects.requireNonNull(v, name);
        try {
            URI u = new URI(v);
            for (String s : schemes) {
                if (s.equalsIgnoreCase(u.getScheme()) && u.getHost() != null) {
                    return u;
                }
            }
        } catch (URISyntaxException e) {
            // fall through to the one-line error
        }
        throw new ConfigException(name + " is not a valid " + String.join("/", schemes) + " URL (got '"
                + redact(v) + "'): set it like " + schemes[0] + "://user:password@host:port/");
    }

    /** One value out of a fixed set, case-insensitive; returns the lower-case form. */
    public String choice(String name, String defaultValue, String... allowed) {
        String v = string(name, defaultValue).toLowerCase(Locale.ROOT);
        for (String a : allowed) {
            if (a.equals(v)) {
                return v;
            }
        }
        throw new ConfigException(name + " must be one of " + String.join(", ", allowed) + " (got '" + v + "')");
    }

    private <T> T parse(String name, T defaultValue, Function<String, T> parser, String expected) {
        String v = raw(name);
        if (v == null) {
            return defaultValue;
        }
        try {
            return parser.apply(v);
        } catch (RuntimeException e) {
            throw new ConfigException(name + " must be " + expected + " (got '" + v + "')");
        }
    }

    /** Hides the password part of a URL so it never reaches a log. */
    public static String redact(String url) {
        return url.replaceAll("(://[^:/@]*:)[^@/]*@", "$1***@");
    }
}
