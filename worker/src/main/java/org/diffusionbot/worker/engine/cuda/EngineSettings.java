package org.diffusionbot.worker.engine.cuda;

/**
 * The engine's tuning switches ({@code SD_*}, documented in docs/GPU.md): read from a system property
 * ({@code -DSD_...}, benchmarks and tests) or else the environment.
 */
public final class EngineSettings {
    private EngineSettings() {
    }

    /** The raw value, or null when unset. */
    public static String value(String name) {
        return System.getProperty(name, System.getenv(name));
    }

    /** A switch that is on unless set to {@code 0}. */
    public static boolean onUnlessZero(String name) {
        return !"0".equals(value(name));
    }

    /** A positive integer; {@code dflt} when unset or not a number, at least 1. */
    public static int positiveInt(String name, int dflt) {
        return intAtLeast(name, dflt, 1);
    }

    /** A non-negative integer; {@code dflt} when unset, blank or not a number, at least 0. */
    public static int nonNegativeInt(String name, int dflt) {
        return intAtLeast(name, dflt, 0);
    }

    private static int intAtLeast(String name, int dflt, int min) {
        String v = value(name);
        try {
            return v == null ? dflt : Math.max(min, Integer.parseInt(v.trim()));
        } catch (NumberFormatException e) {
            return dflt;
        }
    }
}
