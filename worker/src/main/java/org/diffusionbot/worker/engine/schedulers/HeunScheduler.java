package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * diffusers' {@code HeunDiscreteScheduler(steps_offset=1)} (Karras et al. 2022, Algorithm 1): every
 * step but the last evaluates the model twice. Its timesteps repeat each one after the first
 * ({@code t0, t1, t1, …, t_{N-1}, t_{N-1}}: 2N − 1 step indices for N steps) and so do its sigmas
 * ({@code σ0, σ1, σ1, …, σ_{N-1}, σ_{N-1}, 0}). An even index is an Euler step from σ_i to σ_{i+1}
 * (remembering its sample, derivative and dt); the odd index that follows evaluates the model at its
 * result and replaces the step by one with the mean of both derivatives. The last index is a plain
 * Euler step to σ = 0. Sigma schedules as {@link SigmaScheduler} (linspace, Karras, exponential,
 * trailing).
 */
public final class HeunScheduler extends SigmaScheduler {
    private NDArray firstSample;
    private NDArray firstDerivative;
    private double dt;

    HeunScheduler(SchedulerConfig config, Schedule schedule) {
        super(Sampler.HEUN, config, schedule);
    }

    @Override
    protected void computeTimesteps(int steps) {
        super.computeTimesteps(steps);
        float[] t = timesteps;
        float[] s = sigmas;
        float[] tt = new float[2 * steps - 1];
        float[] ss = new float[2 * steps];
        tt[0] = t[0];
        ss[0] = s[0];
        for (int k = 1; k < steps; k++) {
            tt[2 * k - 1] = t[k];
            tt[2 * k] = t[k];
            ss[2 * k - 1] = s[k];
            ss[2 * k] = s[k];
        }
        ss[2 * steps - 1] = 0f;
        timesteps = tt;
        sigmas = ss;
    }

    /** diffusers' img2img start ({@code t_start * scheduler.order}, order 2): always a first-order index. */
    @Override
    public int firstStepForStrength(double strength) {
        return 2 * super.firstStepForStrength(strength);
    }

    @Override
    protected void resetHistory() {
        firstSample = null;
        firstDerivative = null;
    }

    @Override
    protected List<NDArray> history() {
        List<NDArray> h = new ArrayList<>(2);
        if (firstSample != null) {
            h.add(firstSample);
            h.add(firstDerivative);
        }
        return h;
    }

    @Override
    protected StepResult doStep(NDArray m, int i, NDArray sample, NoiseSource noise) {
        boolean firstOrder = i % 2 == 0;
        if (firstOrder) {
            double sigma = sigmas[i];
            NDArray x0 = predX0Sigma(m, sample, sigma);
            NDArray derivative = div(sample.sub(x0), (float) sigma);
            double step = sigmas[i + 1] - sigma;
            NDArray prev = sample.add(mul(derivative, (float) step));
            release(firstSample);
            release(firstDerivative);
            firstSample = null;
            firstDerivative = null;
            if (i + 1 < timesteps.length) { // a second evaluation follows
                firstSample = keep(sample);
                firstDerivative = keep(derivative);
                dt = step;
            }
            return new StepResult(prev, x0);
        }
        if (firstSample == null) {
            throw new IllegalStateException("heun: step index " + i + " needs the first-order step " + (i - 1) + " before it");
        }
        double sigmaNext = sigmas[i];
        NDArray x0 = predX0Sigma(m, sample, sigmaNext);
        NDArray derivative = div(div(sample.sub(x0), (float) sigmaNext).add(firstDerivative), 2f);
        NDArray prev = firstSample.add(mul(derivative, (float) dt));
        release(firstSample);
        release(firstDerivative);
        firstSample = null;
        firstDerivative = null;
        return new StepResult(prev, x0);
    }
}
