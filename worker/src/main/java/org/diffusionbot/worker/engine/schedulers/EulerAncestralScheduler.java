package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * diffusers' {@code EulerAncestralDiscreteScheduler(steps_offset=1)}: an Euler step to σ_down plus
 * fresh noise·σ_up, where σ_up = √(σ_next²(σ²−σ_next²)/σ²), σ_down = √(σ_next² − σ_up²). The noise
 * is drawn at every step, the last included, from the {@link NoiseSource} (diffusers draws it from
 * the pipeline's generator right after the initial latents).
 */
public final class EulerAncestralScheduler extends SigmaScheduler {
    EulerAncestralScheduler(SchedulerConfig config) {
        super(Sampler.EULER_A, config, Schedule.DEFAULT);
    }

    @Override
    public boolean isStochastic() {
        return true;
    }

    @Override
    protected StepResult doStep(NDArray m, int i, NDArray sample, NoiseSource noise) {
        double sigma = sigmas[i];
        double to = sigmas[i + 1];
        NDArray x0 = predX0Sigma(m, sample, sigma);
        double up = Math.sqrt(to * to * (sigma * sigma - to * to) / (sigma * sigma));
        double down = Math.sqrt(to * to - up * up);
        NDArray prev = sample.add(mul(sample.sub(x0), (float) ((down - sigma) / sigma)));
        NDArray z = noise.next(scope(), sample.getShape());
        prev = prev.add(mul(z, (float) up));
        return new StepResult(prev, x0);
    }
}
