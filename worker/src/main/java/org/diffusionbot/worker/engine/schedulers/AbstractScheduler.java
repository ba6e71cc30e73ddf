package org.diffusionbot.worker.engine.schedulers;

import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig.PredictionType;

/** Shared noise schedule, timestep spacing and NDArray memory handling of the schedulers. */
abstract class AbstractScheduler implements Scheduler {
    protected final Sampler sampler;
    protected final SchedulerConfig config;
    /** alphas_cumprod as float32 values, exactly as torch computes them. */
    protected final float[] alphasCumprod;
    protected float[] timesteps = new float[0];
    protected int numInferenceSteps;

    private NDManager historyManager;
    private NDManager scope;
    private NDArray stepModelOutput;
    private NDArray stepSample;
    private final List<NDArray> toKeep = new ArrayList<>();
    private final List<NDArray> toRelease = new ArrayList<>();

    AbstractScheduler(Sampler sampler, SchedulerConfig config) {
        this.sampler = sampler;
        this.config = config;
        this.alphasCumprod = alphasCumprod(config, config.rescaleBetasZeroSnr() ? zeroSnr() : ZeroSnr.IGNORED);
    }

    /** What diffusers' class of this scheduler does with {@code rescale_betas_zero_snr}. */
    enum ZeroSnr {
        /** no such option: the plain schedule (pndm, lms) */
        IGNORED,
        /** rescaled, ᾱ = 0 at the last timestep (ddim) */
        ZERO,
        /** rescaled, the last ᾱ set to 2⁻²⁴ so that σ stays finite (the sigma-based classes) */
        CLAMPED
    }

    /** This class's {@link ZeroSnr} (most schedulers: clamped). */
    protected ZeroSnr zeroSnr() {
        return ZeroSnr.CLAMPED;
    }

    static float[] alphasCumprod(SchedulerConfig c) {
        return alphasCumprod(c, ZeroSnr.IGNORED);
    }

    static float[] alphasCumprod(SchedulerConfig c, ZeroSnr zeroSnr) {
        int n = c.numTrainTimesteps();
        float[] betas = new float[n];
        switch (c.betaSchedule()) {
            case "scaled_linear" -> {
                float[] l = torchLinspace((float) Math.sqrt(c.betaStart()), (float) Math.sqrt(c.betaEnd()), n);
                for (int i = 0; i < n; i++) {
                    betas[i] = l[i] * l[i];
                }
            }
            case "linear" -> betas = torchLinspace((float) c.betaStart(), (float) c.betaEnd(), n);
            case "squaredcos_cap_v2" -> {
                for (int i = 0; i < n; i++) {
                    double t1 = (double) i / n;
                    double t2 = (double) (i + 1) / n;
                    betas[i] = (float) Math.min(1 - cosBar(t2) / cosBar(t1), 0.999);
                }
            }
            default -> throw new IllegalArgumentException(c.betaSchedule());
        }
        if (zeroSnr != ZeroSnr.IGNORED) {
            betas = rescaleZeroTerminalSnr(betas);
        }
        float[] ac = new float[n];
        float p = 1f;
        for (int i = 0; i < n; i++) {
            p *= (1f - betas[i]);
            ac[i] = p;
        }
        if (zeroSnr == ZeroSnr.CLAMPED) {
            ac[n - 1] = 0x1p-24f;
        }
        return ac;
    }

    /** diffusers' {@code rescale_zero_terminal_snr} in float32: √ᾱ shifted and scaled to end at 0, keeping its start. */
    static float[] rescaleZeroTerminalSnr(float[] betas) {
        int n = betas.length;
        float[] sqrtBar = new float[n];
        float p = 1f;
        for (int i = 0; i < n; i++) {
            p *= (1f - betas[i]);
            sqrtBar[i] = (float) Math.sqrt(p);
        }
        float first = sqrtBar[0];
        float last = sqrtBar[n - 1];
        float scale = first / (first - last);
        float[] bar = new float[n];
        for (int i = 0; i < n; i++) {
            float v = (sqrtBar[i] - last) * scale;
            bar[i] = v * v;
        }
        float[] out = new float[n];
        out[0] = 1f - bar[0];
        for (int i = 1; i < n; i++) {
            out[i] = 1f - bar[i] / bar[i - 1];
        }
        return out;
    }

    private static double cosBar(double t) {
        double v = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return v * v;
    }

    /** torch.linspace in float32 (the CPU kernel fills from both ends). */
    static float[] torchLinspace(float start, float end, int steps) {
        float[] r = new float[steps];
        if (steps == 1) {
            r[0] = start;
            return r;
        }
        float step = (end - start) / (steps - 1);
        int half = steps / 2;
        for (int i = 0; i < steps; i++) {
            r[i] = i < half ? start + step * i : end - step * (steps - i - 1);
        }
        return r;
    }

    /** numpy.linspace(start, stop, num) in float64. */
    static double[] npLinspace(double start, double stop, int num) {
        double[] r = new double[num];
        if (num == 1) {
            r[0] = start;
            return r;
        }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) {
            r[i] = start + i * step;
        }
        r[num - 1] = stop;
        return r;
    }

    /** numpy.arange(start, stop, -step) for stop < start, step > 0. */
    static double[] npArangeDown(double start, double stop, double step) {
        int n = (int) Math.ceil((start - stop) / step);
        double[] r = new double[n];
        for (int i = 0; i < n; i++) {
            r[i] = start - i * step;
        }
        return r;
    }

    static double[] reverse(double[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[a.length - 1 - i];
        }
        return r;
    }

    protected String spacing(String classDefault) {
        return config.timestepSpacing() != null ? config.timestepSpacing() : classDefault;
    }

    /**
     * Descending timesteps of DDIM/PNDM/Euler/LMS-type schedulers (one per step), rounded to
     * integers except for linspace when {@code integer} is false.
     */
    protected double[] standardTimesteps(int steps, String spacing, boolean integer) {
        int T = config.numTrainTimesteps();
        double[] t;
        switch (spacing) {
            case "linspace" -> {
                t = reverse(npLinspace(0, T - 1, steps));
                for (int i = 0; i < t.length; i++) {
                    t[i] = integer ? Math.rint(t[i]) : (float) t[i];
                }
            }
            case "leading" -> {
                int ratio = T / steps;
                t = new double[steps];
                for (int i = 0; i < steps; i++) {
                    t[i] = (double) (steps - 1 - i) * ratio + config.stepsOffset();
                }
            }
            case "trailing" -> {
                t = npArangeDown(T, 0, (double) T / steps);
                for (int i = 0; i < t.length; i++) {
                    t[i] = Math.rint(t[i]) - 1;
                }
            }
            default -> throw new IllegalArgumentException(spacing);
        }
        return t;
    }

    /** sqrt((1 - ᾱ)/ᾱ) for every training timestep, as float32. */
    protected float[] trainSigmas() {
        float[] s = new float[alphasCumprod.length];
        for (int i = 0; i < s.length; i++) {
            float a = alphasCumprod[i];
            s[i] = (float) Math.sqrt((1f - a) / a);
        }
        return s;
    }

    /** numpy.interp(x, arange(len(fp)), fp). */
    static double interp(double x, float[] fp) {
        if (x <= 0) {
            return fp[0];
        }
        if (x >= fp.length - 1) {
            return fp[fp.length - 1];
        }
        int lo = (int) Math.floor(x);
        double w = x - lo;
        return fp[lo] + (fp[lo + 1] - (double) fp[lo]) * w;
    }

    /**
     * diffusers' {@code _convert_to_karras}: n sigmas from {@code max} down to {@code min} evenly
     * spaced in σ^(1/ρ), ρ = 7 (Karras et al. 2022), in float64.
     */
    static double[] karrasSigmas(double min, double max, int n) {
        double rho = 7.0;
        double minInv = Math.pow(min, 1 / rho);
        double maxInv = Math.pow(max, 1 / rho);
        double[] ramp = npLinspace(0, 1, n);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            s[i] = Math.pow(maxInv + ramp[i] * (minInv - maxInv), rho);
        }
        return s;
    }

    /** diffusers' {@code _convert_to_exponential}: {@code exp(linspace(log max, log min, n))}, float64. */
    static double[] exponentialSigmas(double min, double max, int n) {
        double[] l = npLinspace(Math.log(max), Math.log(min), n);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            s[i] = Math.exp(l[i]);
        }
        return s;
    }

    /** log of each float32 training sigma, in float32 (numpy's {@code np.log} of a float32 array). */
    static float[] logSigmas(float[] trainSigmas) {
        float[] l = new float[trainSigmas.length];
        for (int k = 0; k < l.length; k++) {
            l[k] = (float) Math.log(trainSigmas[k]);
        }
        return l;
    }

    /**
     * diffusers' {@code _sigma_to_t}: the fractional training timestep whose log-sigma interpolates
     * linearly to this one (float64; {@code low - high} in float32, as numpy computes it).
     */
    static double sigmaToT(double sigma, float[] logSigmas) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        int low = 0;
        for (int k = 0; k < logSigmas.length; k++) {
            if (logSigma - logSigmas[k] >= 0) {
                low = k;
            }
        }
        low = Math.min(low, logSigmas.length - 2);
        float lo = logSigmas[low];
        float hi = logSigmas[low + 1];
        double w = (lo - logSigma) / (float) (lo - hi);
        w = Math.max(0, Math.min(1, w));
        return (1 - w) * low + w * (low + 1);
    }

    protected static float[] toFloats(double[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = (float) a[i];
        }
        return r;
    }

    // ------------------------------------------------------------------ prediction conversions

    /** x0 from the model output for a DDPM-space sample with ᾱ = a. */
    protected NDArray predX0(NDArray m, NDArray x, double a) {
        double sa = Math.sqrt(a);
        double sb = Math.sqrt(1 - a);
        if (config.predictionType() == PredictionType.EPSILON) {
            return div(x.sub(mul(m, (float) sb)), (float) sa);
        }
        return mul(x, (float) sa).sub(mul(m, (float) sb));
    }

    /** ε from the model output for a DDPM-space sample with ᾱ = a. */
    protected NDArray predEps(NDArray m, NDArray x, double a) {
        if (config.predictionType() == PredictionType.EPSILON) {
            return m;
        }
        return mul(m, (float) Math.sqrt(a)).add(mul(x, (float) Math.sqrt(1 - a)));
    }

    /** x0 for a k-diffusion (sigma-space) sample, as Euler/LMS pred_original_sample. */
    protected NDArray predX0Sigma(NDArray m, NDArray sample, double sigma) {
        if (config.predictionType() == PredictionType.EPSILON) {
            return sample.sub(mul(m, (float) sigma));
        }
        return mul(m, (float) (-sigma / Math.sqrt(sigma * sigma + 1))).add(div(sample, (float) (sigma * sigma + 1)));
    }

    // ------------------------------------------------------------------ run state and memory

    @Override
    public Sampler sampler() {
        return sampler;
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public float[] timesteps() {
        return timesteps.clone();
    }

    @Override
    public int numSteps() {
        return timesteps.length;
    }

    @Override
    public int numInferenceSteps() {
        return numInferenceSteps;
    }

    @Override
    public final void setTimesteps(int steps) {
        if (steps < 1 || steps > config.numTrainTimesteps()) {
            throw new IllegalArgumentException("steps must be in [1, " + config.numTrainTimesteps() + "]");
        }
        numInferenceSteps = steps;
        resetHistory();
        computeTimesteps(steps);
    }

    protected abstract void computeTimesteps(int steps);

    /**
     * Drops all history references (their arrays are freed with the history manager). Stateless
     * samplers (DDIM, Euler, Euler a) keep none.
     */
    protected void resetHistory() {
    }

    /** History arrays that a step may read; none for stateless samplers. */
    protected List<NDArray> history() {
        return List.of();
    }

    protected abstract StepResult doStep(NDArray modelOutput, int i, NDArray sample, NoiseSource noise);

    protected void checkIndex(int i) {
        if (numInferenceSteps == 0) {
            throw new IllegalStateException("call setTimesteps first");
        }
        if (i < 0 || i >= timesteps.length) {
            throw new IndexOutOfBoundsException("step index " + i + " of " + timesteps.length);
        }
    }

    @Override
    public final StepResult step(NDArray modelOutput, int stepIndex, NDArray sample, NoiseSource noise) {
        checkIndex(stepIndex);
        NDManager parent = sample.getManager();
        if (historyManager == null || !historyManager.isOpen()) {
            historyManager = parent.newSubManager();
        }
        StepResult r;
        try (NDManager s = parent.newSubManager()) {
            scope = s;
            stepModelOutput = modelOutput;
            stepSample = sample;
            Map<NDArray, Boolean> attached = new IdentityHashMap<>();
            for (NDArray a : history()) {
                if (a != null && attached.put(a, true) == null) {
                    a.tempAttach(s);
                }
            }
            if (attached.put(modelOutput, true) == null) {
                modelOutput.tempAttach(s);
            }
            if (attached.put(sample, true) == null) {
                sample.tempAttach(s);
            }
            r = doStep(modelOutput, stepIndex, sample, noise);
            r.prevSample().attach(parent);
            r.x0().attach(parent);
            for (NDArray k : toKeep) {
                k.attach(historyManager);
            }
        } finally {
            toKeep.clear();
            scope = null;
            stepModelOutput = null;
            stepSample = null;
        }
        for (NDArray a : toRelease) {
            a.close();
        }
        toRelease.clear();
        return r;
    }

    /** The step's temporary manager (for noise). */
    protected NDManager scope() {
        return scope;
    }

    /** Keeps an array as history beyond this step (copies the caller's arrays). */
    protected NDArray keep(NDArray a) {
        NDArray k = (a == stepModelOutput || a == stepSample) ? a.duplicate() : a;
        toKeep.add(k);
        return k;
    }

    /** Frees a history array after this step. */
    protected void release(NDArray a) {
        if (a != null) {
            toRelease.add(a);
        }
    }

    @Override
    public void close() {
        resetHistory();
        if (historyManager != null) {
            historyManager.close();
            historyManager = null;
        }
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(" + sampler.id() + ", " + config + ", timesteps="
                + Arrays.toString(timesteps) + ")";
    }
}
