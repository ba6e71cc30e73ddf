package org.diffusionbot.worker.engine.schedulers;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.common.Sampler;

/**
 * A diffusion sampler with the exact semantics of the corresponding diffusers scheduler. One
 * instance serves one run (it keeps multistep history); create it with {@link Schedulers#create}.
 *
 * <p>Per run:
 *
 * <pre>{@code
 * s.setTimesteps(steps);
 * int first = img2img ? s.firstStepForStrength(strength) : 0;
 * x = img2img ? s.addNoise(initLatents, noise, first) : noise.mul(s.initNoiseSigma());
 * for (int i = first; i < s.numSteps(); i++) {
 *     NDArray in = s.scaleModelInput(x, i);                // UNet input, DDPM space
 *     NDArray eps = guidedUnet(in, s.timesteps()[i]);      // CFG-combined model output
 *     StepResult r = s.step(eps, i, x, noiseSource);       // noiseSource: euler_a only
 *     x = r.prevSample();                                  // r.x0(): preview
 * }
 * }</pre>
 *
 * All arrays are float32 NDArrays of shape (batch, C, H, W); every batch element must share the
 * steps and sampler. Per-step work is NDArray arithmetic with scalar coefficients computed in
 * Java, so nothing is copied back to the host. Arrays returned belong to the manager of the
 * sample passed in; history the scheduler keeps lives in its own sub-manager, freed by {@link
 * #close()}.
 */
public interface Scheduler extends AutoCloseable {
    Sampler sampler();

    SchedulerConfig config();

    /** Prepares a run of {@code steps} inference steps and clears any history. */
    void setTimesteps(int steps);

    /** The UNet timestep of each step index (floats: Euler-type samplers use fractional ones). */
    float[] timesteps();

    /** Number of step indices (equal to the requested steps except PNDM: steps + 1). */
    int numSteps();

    /** Factor for the initial noise of text-to-image runs. */
    float initNoiseSigma();

    /** Whether {@link #step} consumes a {@link NoiseSource}. */
    default boolean isStochastic() {
        return false;
    }

    /** The UNet input at step i (the sample divided by √(σ²+1) for k-diffusion samplers). */
    NDArray scaleModelInput(NDArray sample, int stepIndex);

    /**
     * Advances from step index i. {@code modelOutput} is the guided UNet output for {@code
     * scaleModelInput(sample, i)} at {@code timesteps()[i]}.
     */
    StepResult step(NDArray modelOutput, int stepIndex, NDArray sample, NoiseSource noise);

    /** ᾱ of the UNet input at step i: 1/(1+σ²) for sigma-based samplers, alphas_cumprod[t] otherwise. */
    double alphaBar(int stepIndex);

    /** Noises clean latents to the level of step index i (img2img start). */
    NDArray addNoise(NDArray original, NDArray noise, int stepIndex);

    /**
     * The first step index of an img2img run with this strength, as diffusers'
     * StableDiffusionImg2ImgPipeline: {@code init = min(int(steps*s), steps); t_start =
     * max(steps - init, 0)}. Noise is added at this index and the run continues from it.
     */
    default int firstStepForStrength(double strength) {
        if (strength < 0 || strength > 1) {
            throw new IllegalArgumentException("strength must be in [0, 1]");
        }
        int steps = numInferenceSteps();
        int init = Math.min((int) (steps * strength), steps);
        return Math.max(steps - init, 0);
    }

    /** The steps requested in {@link #setTimesteps}. */
    int numInferenceSteps();

    /** Frees the history arrays kept by this scheduler. */
    @Override
    void close();
}
