package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * Base of the k-diffusion style samplers (Euler, Euler a, LMS, Heun): the sample lives in sigma
 * space (x_σ = x0 + σ·ε), timesteps default to "linspace" (fractional, e.g. 999, 799.2, …, 0) and
 * the sigmas are interpolated linearly in the training sigmas, with a final 0. With {@link
 * Schedule#KARRAS} or {@link Schedule#EXPONENTIAL} the sigmas are converted between the first and
 * the last of those (diffusers' {@code use_karras_sigmas}, {@code use_exponential_sigmas}) and the
 * timesteps are their fractional {@code _sigma_to_t}.
 */
abstract class SigmaScheduler extends AbstractScheduler {
    /** One sigma per step index plus the final 0. */
    protected float[] sigmas = new float[0];
    /** DEFAULT, KARRAS or EXPONENTIAL (TRAILING arrives as the config's timestep spacing). */
    protected final Schedule schedule;

    SigmaScheduler(Sampler sampler, SchedulerConfig config, Schedule schedule) {
        super(sampler, config);
        this.schedule = sigmaSchedule(schedule);
    }

    /** The sigma conversion of a schedule: TRAILING is a spacing, not a conversion. */
    static Schedule sigmaSchedule(Schedule s) {
        return s == null || s == Schedule.TRAILING ? Schedule.DEFAULT : s;
    }

    @Override
    protected void computeTimesteps(int steps) {
        double[] t = standardTimesteps(steps, spacing("linspace"), false);
        float[] train = trainSigmas();
        double[] s = new double[t.length];
        for (int i = 0; i < t.length; i++) {
            t[i] = (float) t[i];
            s[i] = interp(t[i], train);
        }
        if (schedule != Schedule.DEFAULT) {
            double min = s[s.length - 1]; // in_sigmas[-1], float64 as np.interp returns it
            double max = s[0];
            s = schedule == Schedule.KARRAS ? karrasSigmas(min, max, steps) : exponentialSigmas(min, max, steps);
            float[] logSigmas = logSigmas(train);
            for (int i = 0; i < steps; i++) {
                t[i] = sigmaToT(s[i], logSigmas);
            }
        }
        timesteps = toFloats(t);
        sigmas = new float[t.length + 1];
        for (int i = 0; i < t.length; i++) {
            sigmas[i] = (float) s[i];
        }
        sigmas[t.length] = 0f;
    }

    /** The sigmas of the run (one per step plus the final 0). */
    public float[] sigmas() {
        return sigmas.clone();
    }

    @Override
    public float initNoiseSigma() {
        float max = 0;
        for (float s : sigmas) {
            max = Math.max(max, s);
        }
        String sp = spacing("linspace");
        if (sp.equals("linspace") || sp.equals("trailing")) {
            return max;
        }
        return (float) Math.sqrt((double) max * max + 1);
    }

    @Override
    public NDArray scaleModelInput(NDArray sample, int i) {
        checkIndex(i);
        double s = sigmas[i];
        return div(sample, (float) Math.sqrt(s * s + 1));
    }

    @Override
    public double alphaBar(int i) {
        double s = sigmas[i];
        return 1 / (1 + s * s);
    }

    @Override
    public NDArray addNoise(NDArray original, NDArray noise, int i) {
        checkIndex(i);
        return original.add(mul(noise, sigmas[i]));
    }
}
