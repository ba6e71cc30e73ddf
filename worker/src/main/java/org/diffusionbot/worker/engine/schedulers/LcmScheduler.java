package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.common.Sampler;

/**
 * diffusers' {@code LCMScheduler(steps_offset=1)} (Latent Consistency Models, Luo et al. 2023) with
 * its defaults: {@code original_inference_steps=50}, {@code timestep_scaling=10}, {@code
 * set_alpha_to_one=True}. Timesteps: the distillation schedule {@code 19, 39, …, 999} (k = T/50),
 * reversed, sampled at {@code floor(linspace(0, 50, N, endpoint=False))} (e.g. 999, 759, 499, 259
 * for 4 steps), so at most 50 steps. Each step takes the consistency function's output {@code
 * denoised = c_out·x0 + c_skip·x} (c_skip = σ_d²/((10t)² + σ_d²), c_out = 10t/√((10t)² + σ_d²),
 * σ_d = 0.5) and, before every step but the last, noises it again to the next timestep with fresh
 * noise from the {@link NoiseSource}: {@code √ᾱ_next·denoised + √(1−ᾱ_next)·z}. The last step returns
 * {@code denoised} and draws nothing. x0 (previews) is the model's x0 prediction.
 */
public final class LcmScheduler extends AlphaScheduler {
    /** diffusers' default {@code original_inference_steps}: the most steps LCM takes. */
    public static final int ORIGINAL_INFERENCE_STEPS = Sampler.LCM.maxSteps();
    private static final double TIMESTEP_SCALING = 10.0;
    private static final double SIGMA_DATA = 0.5;

    LcmScheduler(SchedulerConfig config) {
        super(Sampler.LCM, config);
    }

    @Override
    public boolean isStochastic() {
        return true;
    }

    @Override
    protected void computeTimesteps(int steps) {
        int original = ORIGINAL_INFERENCE_STEPS;
        if (steps > original) {
            throw new IllegalArgumentException("lcm takes at most " + original + " steps, got " + steps);
        }
        int k = config.numTrainTimesteps() / original;
        timesteps = new float[steps];
        double spacing = (double) original / steps;
        for (int i = 0; i < steps; i++) {
            int index = (int) Math.floor(i * spacing); // into the reversed schedule
            timesteps[i] = (original - index) * k - 1;
        }
    }

    @Override
    protected StepResult doStep(NDArray m, int i, NDArray x, NoiseSource noise) {
        int t = (int) timesteps[i];
        boolean last = i == timesteps.length - 1;
        double a = alphasCumprod[t];
        float scaled = (float) (t * TIMESTEP_SCALING);
        float cSkip = (float) (SIGMA_DATA * SIGMA_DATA / ((double) scaled * scaled + SIGMA_DATA * SIGMA_DATA));
        float cOut = (float) (scaled / Math.sqrt((double) scaled * scaled + SIGMA_DATA * SIGMA_DATA));
        NDArray x0 = predX0(m, x, a);
        NDArray denoised = mul(x0, cOut).add(mul(x, cSkip));
        if (last) {
            return new StepResult(denoised, x0);
        }
        double aNext = alphasCumprod[(int) timesteps[i + 1]];
        NDArray z = noise.next(scope(), x.getShape());
        NDArray prev = mul(denoised, (float) Math.sqrt(aNext)).add(mul(z, (float) Math.sqrt(1 - aNext)));
        return new StepResult(prev, x0);
    }

    @Override
    protected ZeroSnr zeroSnr() {
        return ZeroSnr.ZERO;
    }
}
