package org.diffusionbot.worker.engine.schedulers;

import org.diffusionbot.common.Sampler;

/**
 * Creates the scheduler of a {@link Sampler}, each configured like the diffusers class and
 * arguments listed in the engine's reference data (all with steps_offset 1):
 *
 * <ul>
 *   <li>ddim: DDIMScheduler(clip_sample=False, set_alpha_to_one=False), eta 0 — leading spacing
 *   <li>pndm: PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=False) — leading
 *   <li>euler, euler_a: Euler(Ancestral)DiscreteScheduler — linspace
 *   <li>dpmpp_2m(_karras): DPMSolverMultistepScheduler(dpmsolver++, order 2[, karras]) — linspace
 *   <li>lms: LMSDiscreteScheduler — linspace
 *   <li>unipc: UniPCMultistepScheduler (bh2, order 2) — linspace
 * </ul>
 */
public final class Schedulers {
    private Schedulers() {}

    /** A new per-run scheduler; call {@link Scheduler#setTimesteps} before use. */
    public static Scheduler create(Sampler sampler, SchedulerConfig config) {
        return switch (sampler) {
            case DDIM -> new DdimScheduler(config);
            case PNDM -> new PndmScheduler(config);
            case EULER -> new EulerScheduler(config);
            case EULER_A -> new EulerAncestralScheduler(config);
            case DPMPP_2M -> new DpmSolverMultistepScheduler(config, false);
            case DPMPP_2M_KARRAS -> new DpmSolverMultistepScheduler(config, true);
            case LMS -> new LmsScheduler(config);
            case UNIPC -> new UniPcScheduler(config);
        };
    }

    /** {@link #create} followed by {@link Scheduler#setTimesteps}. */
    public static Scheduler create(Sampler sampler, SchedulerConfig config, int steps) {
        Scheduler s = create(sampler, config);
        s.setTimesteps(steps);
        return s;
    }
}
