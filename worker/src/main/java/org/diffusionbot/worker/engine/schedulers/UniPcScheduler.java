package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * diffusers' {@code UniPCMultistepScheduler(solver_order=2, solver_type="bh2", predict_x0=True,
 * lower_order_final=True, steps_offset=1)}: at each step the UniC corrector first refines the
 * incoming sample with the new model output (from the second step on), then the UniP predictor
 * advances it. x0 is the converted model output at the uncorrected sample (the UNet input).
 */
public final class UniPcScheduler extends MultistepScheduler {
    private NDArray lastSample;
    private int thisOrder;

    UniPcScheduler(SchedulerConfig config, Schedule schedule) {
        super(Sampler.UNIPC, config, schedule);
    }

    @Override
    protected void resetHistory() {
        modelOutputs.clear();
        lowerOrderNums = 0;
        lastSample = null;
        thisOrder = 0;
    }

    @Override
    protected List<NDArray> history() {
        List<NDArray> h = new ArrayList<>(modelOutputs);
        if (lastSample != null) {
            h.add(lastSample);
        }
        return h;
    }

    @Override
    protected StepResult doStep(NDArray modelOutput, int i, NDArray sample, NoiseSource noise) {
        NDArray x0 = convert(modelOutput, sample, i);
        if (i > 0 && lastSample != null) {
            sample = corrector(x0, lastSample, i, thisOrder);
        }
        pushModelOutput(x0);
        int order = Math.min(solverOrder, timesteps.length - i); // lower_order_final
        thisOrder = Math.min(order, lowerOrderNums + 1);
        release(lastSample);
        lastSample = keep(sample);
        NDArray prev = predictor(sample, i, thisOrder);
        if (lowerOrderNums < solverOrder) {
            lowerOrderNums++;
        }
        return new StepResult(prev, x0.duplicate());
    }

    /** Coefficients shared by UniP and UniC: returns {hPhi1, B(h)} and fills b[0..order). */
    private static double[] phis(double h, int order, double[] b) {
        double hh = -h; // predict_x0
        double hPhi1 = Math.expm1(hh);
        double hPhiK = hPhi1 / hh - 1;
        double bh = Math.expm1(hh); // bh2
        double factorial = 1;
        for (int k = 1; k <= order; k++) {
            b[k - 1] = hPhiK * factorial / bh;
            factorial *= k + 1;
            hPhiK = hPhiK / hh - 1 / factorial;
        }
        return new double[] {hPhi1, bh};
    }

    private double lambdaAt(int i) {
        return sigmas[i] == 0f ? Double.POSITIVE_INFINITY : lambda(i);
    }

    private NDArray predictor(NDArray x, int i, int order) {
        double alphaT = alphaT(i + 1);
        double sigmaT = sigmaT(i + 1);
        double sigmaS0 = sigmaT(i);
        double h = lambdaAt(i + 1) - lambda(i);
        NDArray m0 = mo(0);
        double[] rks = new double[order];
        List<NDArray> d1s = new ArrayList<>();
        for (int k = 1; k < order; k++) {
            double rk = (lambda(i - k) - lambda(i)) / h;
            rks[k - 1] = rk;
            d1s.add(div(mo(k).sub(m0), (float) rk));
        }
        rks[order - 1] = 1;
        double[] b = new double[order];
        double[] p = phis(h, order, b);
        NDArray xt = mul(x, (float) (sigmaT / sigmaS0)).sub(mul(m0, (float) (alphaT * p[0])));
        if (!d1s.isEmpty()) {
            double[] rhos = order == 2 ? new double[] {0.5} : solve(matrix(rks, order - 1), b, order - 1);
            NDArray res = null;
            for (int k = 0; k < d1s.size(); k++) {
                NDArray term = mul(d1s.get(k), (float) rhos[k]);
                res = res == null ? term : res.add(term);
            }
            xt = xt.sub(mul(res, (float) (alphaT * p[1])));
        }
        return xt;
    }

    private NDArray corrector(NDArray modelT, NDArray last, int i, int order) {
        double alphaT = alphaT(i);
        double sigmaT = sigmaT(i);
        double sigmaS0 = sigmaT(i - 1);
        double h = lambda(i) - lambda(i - 1);
        NDArray m0 = mo(0);
        double[] rks = new double[order];
        List<NDArray> d1s = new ArrayList<>();
        for (int k = 1; k < order; k++) {
            double rk = (lambda(i - (k + 1)) - lambda(i - 1)) / h;
            rks[k - 1] = rk;
            d1s.add(div(mo(k).sub(m0), (float) rk));
        }
        rks[order - 1] = 1;
        double[] b = new double[order];
        double[] p = phis(h, order, b);
        double[] rhos = order == 1 ? new double[] {0.5} : solve(matrix(rks, order), b, order);
        NDArray xt = mul(last, (float) (sigmaT / sigmaS0)).sub(mul(m0, (float) (alphaT * p[0])));
        NDArray corr = mul(modelT.sub(m0), (float) rhos[order - 1]);
        for (int k = 0; k < d1s.size(); k++) {
            corr = corr.add(mul(d1s.get(k), (float) rhos[k]));
        }
        return xt.sub(mul(corr, (float) (alphaT * p[1])));
    }

    /** R[row][col] = rks[col]^row for the leading n×n block. */
    private static double[][] matrix(double[] rks, int n) {
        double[][] r = new double[n][n];
        for (int row = 0; row < n; row++) {
            for (int col = 0; col < n; col++) {
                r[row][col] = Math.pow(rks[col], row);
            }
        }
        return r;
    }

    /** Solves a[0..n) x = b[0..n) by Gaussian elimination with partial pivoting. */
    static double[] solve(double[][] a, double[] b, int n) {
        double[][] m = new double[n][n + 1];
        for (int r = 0; r < n; r++) {
            System.arraycopy(a[r], 0, m[r], 0, n);
            m[r][n] = b[r];
        }
        for (int c = 0; c < n; c++) {
            int piv = c;
            for (int r = c + 1; r < n; r++) {
                if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) {
                    piv = r;
                }
            }
            double[] tmp = m[c];
            m[c] = m[piv];
            m[piv] = tmp;
            for (int r = c + 1; r < n; r++) {
                double f = m[r][c] / m[c][c];
                for (int k = c; k <= n; k++) {
                    m[r][k] -= f * m[c][k];
                }
            }
        }
        double[] x = new double[n];
        for (int r = n - 1; r >= 0; r--) {
            double s = m[r][n];
            for (int k = r + 1; k < n; k++) {
                s -= m[r][k] * x[k];
            }
            x[r] = s / m[r][r];
        }
        return x;
    }
}
