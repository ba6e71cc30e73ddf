package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;

/**
 * diffusers' {@code PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)}
 * (A1111's "PLMS"): "leading" timesteps with the second-to-last one repeated (N+1 step indices,
 * e.g. 853, 711, 711, 569, …, 1 for 7 steps), linear multistep on ε up to 4th order. The second
 * step (counter 1) averages the first two model outputs and restarts from the first sample.
 * {@link StepResult#x0()} is the estimate from the current model output at the current timestep.
 */
public final class PndmScheduler extends AlphaScheduler {
    private final List<NDArray> ets = new ArrayList<>();
    private NDArray curSample;
    private int counter;

    PndmScheduler(SchedulerConfig config) {
        super(Sampler.PNDM, config);
    }

    @Override
    protected void computeTimesteps(int steps) {
        double[] t = reverse(standardTimesteps(steps, spacing("leading"), true)); // ascending
        // plms_timesteps = concat(t[:-1], t[-2:-1], t[-1:])[::-1]
        double[] plms = new double[t.length + 1];
        System.arraycopy(t, 0, plms, 0, t.length - 1);
        plms[t.length - 1] = t.length >= 2 ? t[t.length - 2] : t[t.length - 1];
        plms[t.length] = t[t.length - 1];
        if (t.length < 2) { // numpy: t[-2:-1] is empty for a single step
            plms = new double[] {t[0]};
        }
        timesteps = toFloats(reverse(plms));
    }

    @Override
    protected void resetHistory() {
        ets.clear();
        curSample = null;
        counter = 0;
    }

    @Override
    protected List<NDArray> history() {
        List<NDArray> h = new ArrayList<>(ets);
        if (curSample != null) {
            h.add(curSample);
        }
        return h;
    }

    @Override
    protected StepResult doStep(NDArray modelOutput, int i, NDArray sample, NoiseSource noise) {
        int ratio = config.numTrainTimesteps() / numInferenceSteps;
        int timestep = (int) timesteps[i];
        NDArray x0 = predX0(modelOutput, sample, alphasCumprod[timestep]);
        int prevTimestep = timestep - ratio;
        if (counter != 1) {
            while (ets.size() > 3) {
                release(ets.remove(0));
            }
            ets.add(keep(modelOutput));
        } else {
            prevTimestep = timestep;
            timestep = timestep + ratio;
        }
        NDArray m;
        int n = ets.size();
        if (n == 1 && counter == 0) {
            m = modelOutput;
            curSample = keep(sample);
        } else if (n == 1 && counter == 1) {
            m = div(modelOutput.add(ets.get(0)), 2f);
            sample = curSample;
            release(curSample);
            curSample = null;
        } else if (n == 2) {
            m = div(mul(ets.get(1), 3f).sub(ets.get(0)), 2f);
        } else if (n == 3) {
            m = div(mul(ets.get(2), 23f).sub(mul(ets.get(1), 16f)).add(mul(ets.get(0), 5f)), 12f);
        } else {
            m = mul(mul(ets.get(3), 55f).sub(mul(ets.get(2), 59f)).add(mul(ets.get(1), 37f)).sub(mul(ets.get(0), 9f)),
                    (float) (1.0 / 24));
        }
        NDArray prev = prevSample(sample, timestep, prevTimestep, m);
        counter++;
        return new StepResult(prev, x0);
    }

    private NDArray prevSample(NDArray sample, int t, int prevT, NDArray m) {
        double a = alphasCumprod[t];
        double aPrev = prevT >= 0 ? alphasCumprod[prevT] : alphasCumprod[0];
        double b = 1 - a;
        double bPrev = 1 - aPrev;
        if (config.predictionType() == SchedulerConfig.PredictionType.V_PREDICTION) {
            m = mul(m, (float) Math.sqrt(a)).add(mul(sample, (float) Math.sqrt(b)));
        }
        double sampleCoeff = Math.sqrt(aPrev / a);
        double denom = a * Math.sqrt(bPrev) + Math.sqrt(a * b * aPrev);
        return mul(sample, (float) sampleCoeff).sub(mul(m, (float) ((aPrev - a) / denom)));
    }

    @Override
    protected ZeroSnr zeroSnr() {
        return ZeroSnr.IGNORED;
    }
}
