package org.diffusionbot.worker.engine.schedulers;

import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * Creates the scheduler of a {@link Sampler} and {@link Schedule}, each configured like the
 * diffusers class and arguments listed in the engine's reference data (all with steps_offset 1):
 *
 * <ul>
 *   <li>ddim: DDIMScheduler(clip_sample=False, set_alpha_to_one=False), eta 0 — leading spacing
 *   <li>pndm: PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=False) — leading
 *   <li>euler, euler_a: Euler(Ancestral)DiscreteScheduler — linspace
 *   <li>dpmpp_2m(_karras): DPMSolverMultistepScheduler(dpmsolver++, order 2[, karras]) — linspace
 *   <li>dpmpp_2m_sde(_karras): DPMSolverMultistepScheduler(sde-dpmsolver++, order 2[, karras]) — linspace
 *   <li>lms: LMSDiscreteScheduler — linspace
 *   <li>unipc: UniPCMultistepScheduler (bh2, order 2) — linspace
 *   <li>heun: HeunDiscreteScheduler — linspace
 *   <li>lcm: LCMScheduler (original_inference_steps 50) — its own schedule
 * </ul>
 *
 * The schedule adds to these arguments: {@code karras} → {@code use_karras_sigmas=True}, {@code
 * exponential} → {@code use_exponential_sigmas=True}, {@code trailing} → {@code
 * timestep_spacing="trailing"}; {@code default} adds nothing ({@link Sampler#supports} says which
 * sampler takes which).
 */
public final class Schedulers {
    private Schedulers() {}

    /** A new per-run scheduler with the default schedule; call {@link Scheduler#setTimesteps} before use. */
    public static Scheduler create(Sampler sampler, SchedulerConfig config) {
        return create(sampler, Schedule.DEFAULT, config);
    }

    /**
     * A new per-run scheduler; call {@link Scheduler#setTimesteps} before use.
     *
     * @throws IllegalArgumentException when the sampler does not take the schedule
     */
    public static Scheduler create(Sampler sampler, Schedule schedule, SchedulerConfig config) {
        Schedule s = sampler.scheduleWith(schedule);
        SchedulerConfig c = s == Schedule.TRAILING ? config.withTimestepSpacing("trailing") : config;
        return switch (sampler) {
            case DDIM -> new DdimScheduler(c);
            case PNDM -> new PndmScheduler(c);
            case EULER -> new EulerScheduler(c, s);
            case EULER_A -> new EulerAncestralScheduler(c);
            case DPMPP_2M, DPMPP_2M_KARRAS -> new DpmSolverMultistepScheduler(sampler, c, s, false);
            case DPMPP_2M_SDE, DPMPP_2M_SDE_KARRAS -> new DpmSolverMultistepScheduler(sampler, c, s, true);
            case LMS -> new LmsScheduler(c, s);
            case UNIPC -> new UniPcScheduler(c, s);
            case HEUN -> new HeunScheduler(c, s);
            case LCM -> new LcmScheduler(c);
        };
    }

    /** {@link #create(Sampler, SchedulerConfig)} followed by {@link Scheduler#setTimesteps}. */
    public static Scheduler create(Sampler sampler, SchedulerConfig config, int steps) {
        return create(sampler, Schedule.DEFAULT, config, steps);
    }

    /** {@link #create(Sampler, Schedule, SchedulerConfig)} followed by {@link Scheduler#setTimesteps}. */
    public static Scheduler create(Sampler sampler, Schedule schedule, SchedulerConfig config, int steps) {
        Scheduler s = create(sampler, schedule, config);
        s.setTimesteps(steps);
        return s;
    }
}
