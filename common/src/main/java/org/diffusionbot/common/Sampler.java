package org.diffusionbot.common;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The samplers (schedulers) the engine implements, by the names users type. Each maps to one
 * diffusers scheduler configuration; {@link #displayName()} is the name Automatic1111 writes into
 * a PNG's {@code parameters} chunk.
 */
public enum Sampler {
    DDIM("ddim", "DDIM"),
    PNDM("pndm", "PLMS"),
    EULER("euler", "Euler"),
    EULER_A("euler_a", "Euler a"),
    DPMPP_2M("dpmpp_2m", "DPM++ 2M"),
    DPMPP_2M_KARRAS("dpmpp_2m_karras", "DPM++ 2M Karras"),
    LMS("lms", "LMS"),
    UNIPC("unipc", "UniPC");

    public static final Sampler DEFAULT = DPMPP_2M_KARRAS;

    private final String id;
    private final String displayName;

    Sampler(String id, String displayName) {
        this.id = id;
        this.displayName = displayName;
    }

    /** The name used on the command line, in slash commands and in messages. */
    @JsonValue
    public String id() {
        return id;
    }

    public String displayName() {
        return displayName;
    }

    /** Looks a sampler up by its id (case-insensitive); the error lists the valid names. */
    @JsonCreator
    public static Sampler fromId(String name) {
        if (name != null) {
            String n = name.trim().toLowerCase(Locale.ROOT);
            for (Sampler s : values()) {
                if (s.id.equals(n)) {
                    return s;
                }
            }
        }
        throw new IllegalArgumentException("unknown sampler '" + name + "'; choose one of " + ids());
    }

    public static String ids() {
        return Arrays.stream(values()).map(Sampler::id).collect(Collectors.joining(", "));
    }
}
