package org.diffusionbot.worker.engine.schedulers;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.common.Sampler;

/**
 * Base of the k-diffusion style samplers (Euler, Euler a, LMS): the sample lives in sigma space
 * (x_σ = x0 + σ·ε), timesteps default to "linspace" (fractional, e.g. 999, 799.2, …, 0) and the
 * sigmas are interpolated linearly in the training sigmas, with a final 0.
 */
abstract class SigmaScheduler extends AbstractScheduler {
    /** One sigma per step index plus the final 0. */
    protected float[] sigmas = new float[0];

    SigmaScheduler(Sampler sampler, SchedulerConfig config) {
        super(sampler, config);
    }

    @Override
    protected void computeTimesteps(int steps) {
        double[] t = standardTimesteps(steps, spacing("linspace"), false);
        float[] train = trainSigmas();
        timesteps = new float[t.length];
        sigmas = new float[t.length + 1];
        for (int i = 0; i < t.length; i++) {
            timesteps[i] = (float) t[i];
            sigmas[i] = (float) interp(timesteps[i], train);
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
        return sample.div((float) Math.sqrt(s * s + 1));
    }

    @Override
    public double alphaBar(int i) {
        double s = sigmas[i];
        return 1 / (1 + s * s);
    }

    @Override
    public NDArray addNoise(NDArray original, NDArray noise, int i) {
        checkIndex(i);
        return original.add(noise.mul(sigmas[i]));
    }
}
