package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.common.Sampler;

/**
 * diffusers' {@code DDIMScheduler(clip_sample=False, set_alpha_to_one=False, steps_offset=1)} with
 * eta 0: "leading" timesteps ({@code t = i·(T//N) + 1}), deterministic update
 * {@code x' = √ᾱ_prev·x0 + √(1−ᾱ_prev)·ε}, ᾱ_prev = ᾱ[0] past the last step.
 */
public final class DdimScheduler extends AlphaScheduler {
    DdimScheduler(SchedulerConfig config) {
        super(Sampler.DDIM, config);
    }

    @Override
    protected void computeTimesteps(int steps) {
        timesteps = toFloats(standardTimesteps(steps, spacing("leading"), true));
    }

    @Override
    protected StepResult doStep(NDArray m, int i, NDArray x, NoiseSource noise) {
        int t = (int) timesteps[i];
        int prev = t - config.numTrainTimesteps() / numInferenceSteps;
        double a = alphasCumprod[t];
        double aPrev = prev >= 0 ? alphasCumprod[prev] : alphasCumprod[0];
        NDArray x0 = predX0(m, x, a);
        NDArray eps = predEps(m, x, a);
        NDArray prevSample = mul(x0, (float) Math.sqrt(aPrev)).add(mul(eps, (float) Math.sqrt(1 - aPrev)));
        return new StepResult(prevSample, x0);
    }

    @Override
    protected ZeroSnr zeroSnr() {
        return ZeroSnr.ZERO;
    }
}
