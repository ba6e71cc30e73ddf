package org.diffusionbot.common;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The samplers (schedulers) the engine implements, by the names users type. Each maps to one
 * diffusers scheduler configuration (the class and arguments are listed in the worker's {@code
 * Schedulers}); {@link #displayName()} is the name Automatic1111 users know ("DPM++ 2M SDE Karras"),
 * {@link #a1111Sampler()} and {@link #scheduleWith(Schedule)} what A1111 writes into a PNG's {@code
 * parameters} chunk ({@code Sampler: DPM++ 2M SDE, Schedule type: Karras}).
 */
public enum Sampler {
    DDIM("ddim", "DDIM", Family.SPACING),
    PNDM("pndm", "PLMS", Family.SPACING),
    EULER("euler", "Euler", Family.ANY),
    /** Euler ancestral: diffusers has no Karras or exponential sigmas for it */
    EULER_A("euler_a", "Euler a", Family.SPACING),
    DPMPP_2M("dpmpp_2m", "DPM++ 2M", Family.ANY),
    DPMPP_2M_KARRAS("dpmpp_2m_karras", "DPM++ 2M Karras", Family.BUILT_IN_KARRAS),
    LMS("lms", "LMS", Family.ANY),
    UNIPC("unipc", "UniPC", Family.ANY),
    /** Latent Consistency Model sampler (few steps, cfg about 1–2, LCM models and LoRAs); its own fixed schedule */
    LCM("lcm", "LCM", Family.OWN),
    /** Heun's second-order method: two model calls per step but the last */
    HEUN("heun", "Heun", Family.ANY),
    /** DPM-Solver++(2M) SDE: stochastic, its noise drawn from the job's seed */
    DPMPP_2M_SDE("dpmpp_2m_sde", "DPM++ 2M SDE", Family.ANY),
    DPMPP_2M_SDE_KARRAS("dpmpp_2m_sde_karras", "DPM++ 2M SDE Karras", Family.BUILT_IN_KARRAS);

    /** Which {@link Schedule}s a sampler takes (as the options of its diffusers class). */
    private enum Family {
        /** default and trailing only (diffusers has no sigma conversions for the class) */
        SPACING,
        /** every schedule (the sigma-based classes) */
        ANY,
        /** a "... Karras" name: default (= Karras) or karras only */
        BUILT_IN_KARRAS,
        /** default only (lcm: its own schedule) */
        OWN
    }

    public static final Sampler DEFAULT = DPMPP_2M_KARRAS;

    private final String id;
    private final String displayName;
    private final Family family;

    Sampler(String id, String displayName, Family family) {
        this.id = id;
        this.displayName = displayName;
        this.family = family;
    }

    /** The name used on the command line, in slash commands and in messages. */
    @JsonValue
    public String id() {
        return id;
    }

    /** The name Automatic1111 users know, with its schedule for the "... Karras" names (Discord choices). */
    public String displayName() {
        return displayName;
    }

    /**
     * The sampler name Automatic1111 (1.9 and later) writes as {@code Sampler:}, without the
     * schedule: "DPM++ 2M" for {@code dpmpp_2m_karras}, whose Karras goes to {@code Schedule type:}.
     */
    public String a1111Sampler() {
        return unscheduled().displayName;
    }

    /**
     * The sampler without a built-in schedule: {@link #DPMPP_2M} for {@link #DPMPP_2M_KARRAS}, {@link
     * #DPMPP_2M_SDE} for {@link #DPMPP_2M_SDE_KARRAS}, else this one.
     */
    public Sampler unscheduled() {
        return switch (this) {
            case DPMPP_2M_KARRAS -> DPMPP_2M;
            case DPMPP_2M_SDE_KARRAS -> DPMPP_2M_SDE;
            default -> this;
        };
    }

    /** Whether this sampler runs with that schedule (diffusers has the option for its class). */
    public boolean supports(Schedule schedule) {
        return switch (family) {
            case ANY -> true;
            case SPACING -> schedule == Schedule.DEFAULT || schedule == Schedule.TRAILING;
            case BUILT_IN_KARRAS -> schedule == Schedule.DEFAULT || schedule == Schedule.KARRAS;
            case OWN -> schedule == Schedule.DEFAULT;
        };
    }

    /**
     * The schedule this sampler runs with when asked for {@code requested}: the "... Karras" names
     * always run Karras sigmas; otherwise the requested one.
     *
     * @throws IllegalArgumentException when this sampler does not take that schedule (the message
     *     names the sampler and the schedules it takes)
     */
    public Schedule scheduleWith(Schedule requested) {
        if (requested == null) {
            requested = Schedule.DEFAULT;
        }
        if (!supports(requested)) {
            String ok = Arrays.stream(Schedule.values()).filter(this::supports).map(Schedule::id)
                    .collect(Collectors.joining(", "));
            throw new IllegalArgumentException("sampler " + id + " cannot use schedule " + requested.id()
                    + " (it takes " + ok + ")");
        }
        return family == Family.BUILT_IN_KARRAS ? Schedule.KARRAS : requested;
    }

    /**
     * The most steps this sampler takes: {@link #LCM} 50 (diffusers' {@code
     * original_inference_steps}: its steps are a subset of a 50-step schedule), the others {@link
     * GenerationLimits#MAX_STEPS}.
     */
    public int maxSteps() {
        return this == LCM ? 50 : GenerationLimits.MAX_STEPS;
    }

    /**
     * The model calls (UNet evaluations) of a text-to-image run of this many steps, as diffusers'
     * timesteps: {@link #HEUN} 2·steps − 1 (two per step but the last), {@link #PNDM} steps + 1
     * (PLMS warm-up; 1 for one step), the others one per step. Progress counts these.
     */
    public int modelCallsFor(int steps) {
        return switch (this) {
            case HEUN -> 2 * steps - 1;
            case PNDM -> steps > 1 ? steps + 1 : steps;
            default -> steps;
        };
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
