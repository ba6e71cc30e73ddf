package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/** diffusers' {@code EulerDiscreteScheduler(steps_offset=1)}: linspace timesteps, x' = x + (x − x0)/σ·(σ_next − σ). */
public final class EulerScheduler extends SigmaScheduler {
    EulerScheduler(SchedulerConfig config, Schedule schedule) {
        super(Sampler.EULER, config, schedule);
    }

    @Override
    protected StepResult doStep(NDArray m, int i, NDArray sample, NoiseSource noise) {
        double sigma = sigmas[i];
        NDArray x0 = predX0Sigma(m, sample, sigma);
        double dt = sigmas[i + 1] - sigma;
        NDArray prev = sample.add(mul(sample.sub(x0), (float) (dt / sigma)));
        return new StepResult(prev, x0);
    }
}
