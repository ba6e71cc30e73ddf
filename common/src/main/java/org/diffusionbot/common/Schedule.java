package org.diffusionbot.common;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How a sampler spaces its noise levels over the steps, as the options of diffusers' schedulers:
 * {@code use_karras_sigmas}, {@code use_exponential_sigmas} and {@code timestep_spacing="trailing"}.
 * {@link #DEFAULT} adds nothing (each scheduler class's own spacing). {@link #displayName()} is the
 * "Schedule type" Automatic1111 writes into a PNG's {@code parameters} ("SGM Uniform" is A1111's
 * name for the trailing spacing that Lightning/Hyper/Turbo models expect).
 *
 * <p>Which sampler takes which schedule: {@link Sampler#supports(Schedule)}.
 */
public enum Schedule {
    /** the scheduler class's default spacing (A1111: "Automatic") */
    DEFAULT("default", "Automatic"),
    /** diffusers' {@code use_karras_sigmas=True}: Karras et al. (2022) sigmas, ρ = 7 */
    KARRAS("karras", "Karras"),
    /** diffusers' {@code use_exponential_sigmas=True}: log-linear sigmas */
    EXPONENTIAL("exponential", "Exponential"),
    /** diffusers' {@code timestep_spacing="trailing"}: steps end-aligned on the training timesteps */
    TRAILING("trailing", "SGM Uniform");

    private final String id;
    private final String displayName;

    Schedule(String id, String displayName) {
        this.id = id;
        this.displayName = displayName;
    }

    /** The name used on the command line, in slash commands, messages and the database. */
    @JsonValue
    public String id() {
        return id;
    }

    /** Automatic1111's name ("Schedule type" of the PNG parameters, Discord choices). */
    public String displayName() {
        return displayName;
    }

    /** Looks a schedule up by its id (case-insensitive); the error lists the valid names. */
    @JsonCreator
    public static Schedule fromId(String name) {
        if (name != null) {
            String n = name.trim().toLowerCase(Locale.ROOT);
            for (Schedule s : values()) {
                if (s.id.equals(n)) {
                    return s;
                }
            }
        }
        throw new IllegalArgumentException("unknown schedule '" + name + "'; choose one of " + ids());
    }

    public static String ids() {
        return Arrays.stream(values()).map(Schedule::id).collect(Collectors.joining(", "));
    }
}
