package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/**
 * Base of DPM-Solver++ and UniPC: the sample stays in DDPM space (no input scaling, initial noise
 * sigma 1), integer timesteps ("linspace" over N+1 points, last dropped: 999, 832, …, 166 for 6
 * steps), sigmas interpolated at them (or a Karras schedule) with a final 0, and the model output
 * converted to a data (x0) prediction with α = 1/√(1+σ²), σ_t = σ·α.
 */
abstract class MultistepScheduler extends AbstractScheduler {
    /** DEFAULT, KARRAS or EXPONENTIAL (TRAILING arrives as the config's timestep spacing). */
    protected final Schedule schedule;
    protected final int solverOrder = 2;
    protected float[] sigmas = new float[0];
    /** Converted (x0) model outputs of the last steps, oldest first. */
    protected final List<NDArray> modelOutputs = new ArrayList<>();
    protected int lowerOrderNums;

    MultistepScheduler(Sampler sampler, SchedulerConfig config, Schedule schedule) {
        super(sampler, config);
        this.schedule = SigmaScheduler.sigmaSchedule(schedule);
    }

    @Override
    protected void computeTimesteps(int steps) {
        int T = config.numTrainTimesteps();
        double[] t;
        switch (spacing("linspace")) {
            case "linspace" -> {
                double[] l = reverse(npLinspace(0, T - 1, steps + 1));
                t = new double[steps];
                for (int i = 0; i < steps; i++) {
                    t[i] = Math.rint(l[i]);
                }
            }
            case "leading" -> {
                int ratio = T / (steps + 1);
                t = new double[steps];
                for (int i = 0; i < steps; i++) {
                    t[i] = (double) (steps - i) * ratio + config.stepsOffset();
                }
            }
            case "trailing" -> {
                t = npArangeDown(T, 0, (double) T / steps);
                for (int i = 0; i < t.length; i++) {
                    t[i] = Math.rint(t[i]) - 1;
                }
            }
            default -> throw new IllegalArgumentException(config.timestepSpacing());
        }
        float[] train = trainSigmas();
        double[] s = new double[t.length];
        if (schedule == Schedule.KARRAS || schedule == Schedule.EXPONENTIAL) {
            // the whole training range (diffusers flips the training sigmas): no spacing involved
            float[] logSigmas = logSigmas(train);
            s = schedule == Schedule.KARRAS ? karrasSigmas(train[0], train[train.length - 1], steps)
                    : exponentialSigmas(train[0], train[train.length - 1], steps);
            t = new double[steps];
            for (int i = 0; i < steps; i++) {
                double ti = sigmaToT(s[i], logSigmas);
                // karras: rounded; exponential: truncated by the int64 cast of the timesteps tensor
                t[i] = schedule == Schedule.KARRAS ? Math.rint(ti) : Math.floor(ti);
            }
        } else {
            for (int i = 0; i < t.length; i++) {
                s[i] = interp(t[i], train);
            }
        }
        timesteps = toFloats(t);
        sigmas = new float[t.length + 1];
        for (int i = 0; i < t.length; i++) {
            sigmas[i] = (float) s[i];
        }
        sigmas[t.length] = 0f;
    }

    /** The sigmas of the run (one per step plus the final 0). */
    public float[] sigmas() {
        return sigmas.clone();
    }

    protected double alphaT(int i) {
        double s = sigmas[i];
        return 1 / Math.sqrt(s * s + 1);
    }

    protected double sigmaT(int i) {
        return sigmas[i] * alphaT(i);
    }

    protected double lambda(int i) {
        return Math.log(alphaT(i)) - Math.log(sigmaT(i));
    }

    /** The data prediction x0 of the model output at step i. */
    protected NDArray convert(NDArray m, NDArray sample, int i) {
        double a = alphaT(i);
        return predX0(m, sample, a * a);
    }

    @Override
    public float initNoiseSigma() {
        return 1f;
    }

    @Override
    public NDArray scaleModelInput(NDArray sample, int i) {
        return sample;
    }

    @Override
    public double alphaBar(int i) {
        double s = sigmas[i];
        return 1 / (1 + s * s);
    }

    @Override
    public NDArray addNoise(NDArray original, NDArray noise, int i) {
        checkIndex(i);
        return mul(original, (float) alphaT(i)).add(mul(noise, (float) sigmaT(i)));
    }

    /** Appends a converted output, dropping the oldest beyond the solver order. */
    protected void pushModelOutput(NDArray x0) {
        modelOutputs.add(keep(x0));
        while (modelOutputs.size() > solverOrder) {
            release(modelOutputs.remove(0));
        }
    }

    /** The converted output k steps back (0: the latest). */
    protected NDArray mo(int k) {
        return modelOutputs.get(modelOutputs.size() - 1 - k);
    }
}
