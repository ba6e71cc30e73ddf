package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * diffusers' {@code DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2,
 * solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero", steps_offset=1)}, or
 * with {@code algorithm_type="sde-dpmsolver++"} ({@code dpmpp_2m_sde}), optionally with {@code
 * use_karras_sigmas=True} (timesteps then are the rounded {@code _sigma_to_t} of the Karras sigmas,
 * e.g. 999, 837, 594, 249, 30, 0) or {@code use_exponential_sigmas=True} (timesteps truncated).
 * First order on the first and the last step, second order (midpoint) in between. x0 is the
 * converted model output.
 *
 * <p>SDE variant, with h = λ_t − λ_s and z ~ N(0, I) drawn from the {@link NoiseSource} at every
 * step, the last included (where σ_t = 0 makes it vanish), as diffusers draws it from the pipeline's
 * generator: x_t = σ_t/σ_s·e^−h·x + α_t(1 − e^−2h)·(D0 + D1/2) + σ_t·√(1 − e^−2h)·z, where D0 + D1/2
 * is the latest x0 at first order and m0 + (m0 − m1)/(2r0) at second order.
 */
public final class DpmSolverMultistepScheduler extends MultistepScheduler {
    private final boolean sde;

    DpmSolverMultistepScheduler(Sampler sampler, SchedulerConfig config, Schedule schedule, boolean sde) {
        super(sampler, config, schedule);
        this.sde = sde;
    }

    @Override
    public boolean isStochastic() {
        return sde;
    }

    @Override
    protected void resetHistory() {
        modelOutputs.clear();
        lowerOrderNums = 0;
    }

    @Override
    protected List<NDArray> history() {
        return new ArrayList<>(modelOutputs);
    }

    @Override
    protected StepResult doStep(NDArray modelOutput, int i, NDArray sample, NoiseSource noise) {
        int n = timesteps.length;
        boolean lowerOrderFinal = i == n - 1; // final_sigmas_type "zero" always ends with first order
        NDArray x0 = convert(modelOutput, sample, i);
        pushModelOutput(x0);
        double alphaT = alphaT(i + 1);
        double sigmaT = sigmaT(i + 1);
        double sigmaS0 = sigmaT(i);
        double h = lambdaNext(i) - lambda(i);
        NDArray d; // D0 + D1/2
        if (lowerOrderNums < 1 || lowerOrderFinal) {
            d = x0;
        } else {
            double h0 = lambda(i) - lambda(i - 1);
            double r0 = h0 / h;
            // D0 = m0, D1 = (m0 - m1)/r0
            d = mul(mo(0), (float) (1 + 0.5 / r0)).sub(mul(mo(1), (float) (0.5 / r0)));
        }
        NDArray prev;
        if (sde) {
            NDArray z = noise.next(scope(), sample.getShape());
            double e2 = -Math.expm1(-2.0 * h); // 1 − e^−2h
            prev = mul(sample, (float) (sigmaT / sigmaS0 * Math.exp(-h))).add(mul(d, (float) (alphaT * e2)))
                    .add(mul(z, (float) (sigmaT * Math.sqrt(e2))));
        } else {
            double expm = Math.exp(-h) - 1.0;
            prev = mul(sample, (float) (sigmaT / sigmaS0)).sub(mul(d, (float) (alphaT * expm)));
        }
        if (lowerOrderNums < solverOrder) {
            lowerOrderNums++;
        }
        return new StepResult(prev, x0.duplicate());
    }

    /** λ at step i+1; +∞ for the final σ = 0. */
    private double lambdaNext(int i) {
        return sigmas[i + 1] == 0f ? Double.POSITIVE_INFINITY : lambda(i + 1);
    }
}
