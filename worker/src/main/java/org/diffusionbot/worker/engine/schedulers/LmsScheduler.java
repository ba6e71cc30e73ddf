package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * diffusers' {@code LMSDiscreteScheduler(steps_offset=1)}: linear multistep (order up to 4) over
 * the derivatives (x − x0)/σ, the coefficients being the integrals of the Lagrange basis
 * polynomials over [σ_i, σ_{i+1}] (computed exactly by Gauss-Legendre quadrature).
 */
public final class LmsScheduler extends SigmaScheduler {
    private static final int ORDER = 4;
    private static final double[] GL_X = {-Math.sqrt(3.0 / 5), 0, Math.sqrt(3.0 / 5)};
    private static final double[] GL_W = {5.0 / 9, 8.0 / 9, 5.0 / 9};

    private final List<NDArray> derivatives = new ArrayList<>();

    LmsScheduler(SchedulerConfig config, Schedule schedule) {
        super(Sampler.LMS, config, schedule);
    }

    @Override
    protected void resetHistory() {
        derivatives.clear();
    }

    @Override
    protected List<NDArray> history() {
        return derivatives;
    }

    @Override
    protected StepResult doStep(NDArray m, int i, NDArray sample, NoiseSource noise) {
        double sigma = sigmas[i];
        NDArray x0 = predX0Sigma(m, sample, sigma);
        derivatives.add(keep(div(sample.sub(x0), (float) sigma)));
        if (derivatives.size() > ORDER) {
            release(derivatives.remove(0));
        }
        int order = Math.min(i + 1, ORDER);
        int terms = Math.min(order, derivatives.size()); // zip(coeffs, reversed(derivatives))
        NDArray prev = sample;
        for (int k = 0; k < terms; k++) {
            double c = coefficient(order, i, k);
            prev = prev.add(mul(derivatives.get(derivatives.size() - 1 - k), (float) c));
        }
        return new StepResult(prev, x0);
    }

    private double coefficient(int order, int t, int current) {
        double a = sigmas[t];
        double b = sigmas[t + 1];
        double half = (b - a) / 2;
        double mid = (a + b) / 2;
        double sum = 0;
        for (int q = 0; q < GL_X.length; q++) {
            double tau = mid + half * GL_X[q];
            double prod = 1;
            for (int k = 0; k < order; k++) {
                if (k == current) {
                    continue;
                }
                prod *= (tau - sigmas[t - k]) / ((double) sigmas[t - current] - sigmas[t - k]);
            }
            sum += GL_W[q] * prod;
        }
        return sum * half;
    }

    @Override
    protected ZeroSnr zeroSnr() {
        return ZeroSnr.IGNORED;
    }
}
