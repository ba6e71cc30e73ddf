package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.common.Sampler;

/**
 * Schedulers that work in DDPM space on the integer training timesteps (DDIM, PNDM, LCM): the model
 * input is the sample itself, the initial noise is unscaled, and ᾱ is {@code alphas_cumprod[t]}.
 */
abstract class AlphaScheduler extends AbstractScheduler {
    AlphaScheduler(Sampler sampler, SchedulerConfig config) {
        super(sampler, config);
    }

    @Override
    public float initNoiseSigma() {
        return 1f;
    }

    @Override
    public NDArray scaleModelInput(NDArray sample, int stepIndex) {
        return sample;
    }

    @Override
    public double alphaBar(int i) {
        return alphasCumprod[(int) timesteps[i]];
    }

    /** DDPM's forward process (diffusers' {@code add_noise}): √ᾱ·x0 + √(1−ᾱ)·ε at the step's timestep. */
    @Override
    public NDArray addNoise(NDArray original, NDArray noise, int i) {
        checkIndex(i);
        double a = alphaBar(i);
        return mul(original, (float) Math.sqrt(a)).add(mul(noise, (float) Math.sqrt(1 - a)));
    }
}
