package org.diffusionbot.worker.engine.schedulers;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;

/**
 * diffusers' {@code DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2,
 * solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero", steps_offset=1)},
 * optionally with {@code use_karras_sigmas=True} (timesteps then are the rounded
 * {@code _sigma_to_t} of the Karras sigmas, e.g. 999, 837, 594, 249, 30, 0). First order on the
 * first and the last step, second order (midpoint) in between. x0 is the converted model output.
 */
public final class DpmSolverMultistepScheduler extends MultistepScheduler {
    DpmSolverMultistepScheduler(SchedulerConfig config, boolean karras) {
        super(karras ? Sampler.DPMPP_2M_KARRAS : Sampler.DPMPP_2M, config, karras);
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
        double expm = Math.exp(-h) - 1.0;
        NDArray prev;
        if (lowerOrderNums < 1 || lowerOrderFinal) {
            prev = sample.mul((float) (sigmaT / sigmaS0)).sub(x0.mul((float) (alphaT * expm)));
        } else {
            double h0 = lambda(i) - lambda(i - 1);
            double r0 = h0 / h;
            NDArray m0 = mo(0);
            NDArray m1 = mo(1);
            // D0 = m0, D1 = (m0 - m1)/r0; x = σt/σs0·x − αt(e^−h − 1)(D0 + D1/2)
            NDArray d = m0.mul((float) (1 + 0.5 / r0)).sub(m1.mul((float) (0.5 / r0)));
            prev = sample.mul((float) (sigmaT / sigmaS0)).sub(d.mul((float) (alphaT * expm)));
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
