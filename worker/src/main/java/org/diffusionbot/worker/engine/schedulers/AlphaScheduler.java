package org.diffusionbot.worker.engine.schedulers;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.common.Sampler;

/**
 * Schedulers that work in DDPM space on the integer training timesteps (DDIM, PNDM): the model
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
}
