package org.diffusionbot.worker.engine.schedulers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.random.TorchGenerator;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig.PredictionType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every sampler against the diffusers pipeline references, with the UNet output reconstructed from x0. */
class SchedulerReferenceTest {
    private static NDManager manager;
    private static List<JsonObject> cases;

    @BeforeAll
    static void setUp() {
        manager = NDManager.newBaseManager(Device.cpu());
        cases = new ArrayList<>();
        for (JsonElement e : RefData.json("/reference/tiny-sd15/cases.json").getAsJsonArray("pipeline_cases")) {
            cases.add(e.getAsJsonObject());
        }
        assertEquals(15, cases.size());
    }

    @AfterAll
    static void tearDown() {
        manager.close();
    }

    private static NDArray nd(NDManager m, RefData.Tensor t) {
        return m.create(t.data(), new Shape(t.shape()));
    }

    private static void assertClose(RefData.Tensor ref, NDArray actual, String what) {
        double tol = 1e-3 * Math.max(1, RefData.maxAbs(ref.data()));
        double d = RefData.maxAbsDiff(actual.toFloatArray(), ref.data());
        assertTrue(d <= tol, what + ": max |Δ| " + d + " > " + tol);
    }

    /** The guided ε the UNet must have produced at step i, from the reference x0. */
    static NDArray epsilonFromX0(Scheduler s, int i, NDArray sample, NDArray x0) {
        NDArray x = s.scaleModelInput(sample, i);
        double a = s.alphaBar(i);
        return x.sub(x0.mul((float) Math.sqrt(a))).div((float) Math.sqrt(1 - a));
    }

    @Test
    void everyPipelineCaseMatchesTimestepsLatentsAndX0() {
        List<String> covered = new ArrayList<>();
        for (JsonObject c : cases) {
            String key = c.get("key").getAsString();
            Sampler sampler = Sampler.fromId(c.get("scheduler").getAsString());
            int steps = c.get("steps").getAsInt();
            RefData.Tensor init = RefData.tensor(key + ".init_noise");
            RefData.Tensor latents = RefData.tensor(key + ".latents");
            RefData.Tensor x0s = RefData.tensor(key + ".x0");
            RefData.Tensor ts = RefData.tensor(key + ".timesteps");
            try (NDManager m = manager.newSubManager();
                    Scheduler s = Schedulers.create(sampler, SchedulerConfig.stableDiffusion(), steps)) {
                assertArrayEquals(ts.data(), s.timesteps(), key + " timesteps");
                assertEquals(ts.numel(), s.numSteps());
                // euler_a: the reference's per-step noise does not come from TorchGenerator(seed) after the
                // initial noise (see checkAncestralResidual); step with zero noise and check the rest
                NoiseSource noise = s.isStochastic() ? (mm, shape) -> mm.zeros(shape) : NoiseSource.NONE;
                for (int i = 0; i < s.numSteps(); i++) {
                    NDArray sample = i == 0 ? nd(m, init).mul(s.initNoiseSigma()) : nd(m, latents.slice(i - 1))
                            .expandDims(0);
                    NDArray x0ref = nd(m, x0s.slice(i)).expandDims(0);
                    NDArray eps = epsilonFromX0(s, i, sample, x0ref);
                    StepResult r = s.step(eps, i, sample, noise);
                    if (s.isStochastic()) {
                        checkAncestralResidual((EulerAncestralScheduler) s, i, latents.slice(i), r.prevSample(), key);
                    } else {
                        assertClose(latents.slice(i), r.prevSample(), key + " " + sampler.id() + " latents[" + i + "]");
                    }
                    assertClose(x0s.slice(i), r.x0(), key + " " + sampler.id() + " x0[" + i + "]");
                }
            }
            covered.add(sampler.id());
        }
        // every sampler has a case here or in cases-samplers.json: SamplerReferenceTest.everySamplerAndScheduleHasACase
    }

    /**
     * Euler a: latents[i] = deterministic part + σ_up·z. The deterministic part (zero noise) must
     * leave a residual that is standard normal after division by σ_up, and the last step
     * (σ_up = 0) must match exactly.
     */
    private static void checkAncestralResidual(EulerAncestralScheduler s, int i, RefData.Tensor ref,
            NDArray deterministic, String key) {
        float[] sig = s.sigmas();
        double from = sig[i];
        double to = sig[i + 1];
        double up = Math.sqrt(to * to * (from * from - to * to) / (from * from));
        if (up == 0) {
            assertClose(ref, deterministic, key + " euler_a final latents");
            return;
        }
        float[] det = deterministic.toFloatArray();
        double sum = 0;
        double sq = 0;
        for (int k = 0; k < det.length; k++) {
            double z = (ref.data()[k] - det[k]) / up;
            sum += z;
            sq += z * z;
        }
        double mean = sum / det.length;
        double std = Math.sqrt(sq / det.length - mean * mean);
        assertTrue(Math.abs(mean) < 0.25 && Math.abs(std - 1) < 0.2,
                key + " euler_a residual at step " + i + ": mean " + mean + " std " + std);
    }

    @Test
    void configParsesDiffusersJsonWithDefaults() throws Exception {
        SchedulerConfig c = SchedulerConfig.fromFile(java.nio.file.Path.of(
                getClass().getResource("/reference/tiny-sd15/model/scheduler/scheduler_config.json").toURI()));
        assertEquals(SchedulerConfig.stableDiffusion(), c);
        SchedulerConfig v = SchedulerConfig.fromJson("{\"prediction_type\": \"v_prediction\"}");
        assertEquals(PredictionType.V_PREDICTION, v.predictionType());
        assertEquals("linear", v.betaSchedule());
        assertEquals(0.0001, v.betaStart());
    }

    /** Feeding v = √ᾱ·ε − √(1−ᾱ)·x0 to a v_prediction scheduler gives the ε scheduler's step. */
    @Test
    void vPredictionMatchesEpsilonPrediction() {
        SchedulerConfig epsCfg = SchedulerConfig.stableDiffusion();
        SchedulerConfig vCfg = epsCfg.withPredictionType(PredictionType.V_PREDICTION);
        Shape shape = new Shape(1, 4, 4, 4);
        for (Sampler sampler : Sampler.values()) {
            try (NDManager m = manager.newSubManager();
                    Scheduler se = Schedulers.create(sampler, epsCfg, 8);
                    Scheduler sv = Schedulers.create(sampler, vCfg, 8)) {
                TorchGenerator data = new TorchGenerator(1234);
                NoiseSource ne = NoiseSource.of(new TorchGenerator(9));
                NoiseSource nv = NoiseSource.of(new TorchGenerator(9));
                NDArray xe = m.create(data.randn(shape.getShape()), shape).mul(se.initNoiseSigma());
                NDArray xv = xe.duplicate();
                // PNDM converts v after mixing outputs of different timesteps (diffusers does the same),
                // so only its first step is exactly equivalent
                int n = sampler == Sampler.PNDM ? 1 : se.numSteps();
                for (int i = 0; i < n; i++) {
                    NDArray eps = m.create(data.randn(shape.getShape()), shape);
                    NDArray x = sv.scaleModelInput(xv, i);
                    double a = sv.alphaBar(i);
                    NDArray x0 = x.sub(eps.mul((float) Math.sqrt(1 - a))).div((float) Math.sqrt(a));
                    NDArray v = eps.mul((float) Math.sqrt(a)).sub(x0.mul((float) Math.sqrt(1 - a)));
                    StepResult re = se.step(eps, i, xe, ne);
                    StepResult rv = sv.step(v, i, xv, nv);
                    float[] a1 = re.prevSample().toFloatArray();
                    double tol = 1e-4 * Math.max(1, RefData.maxAbs(a1));
                    double d = RefData.maxAbsDiff(a1, rv.prevSample().toFloatArray());
                    assertTrue(d <= tol, sampler.id() + " step " + i + ": " + d);
                    assertTrue(RefData.maxAbsDiff(re.x0().toFloatArray(), rv.x0().toFloatArray())
                            <= 1e-4 * Math.max(1, RefData.maxAbs(re.x0().toFloatArray())), sampler.id() + " x0");
                    xe = re.prevSample();
                    xv = rv.prevSample();
                }
            }
        }
    }

    @Test
    void img2imgFirstStepAndTimesteps() {
        SchedulerConfig cfg = SchedulerConfig.stableDiffusion();
        Scheduler ddim = Schedulers.create(Sampler.DDIM, cfg, 10);
        assertArrayEquals(new float[] {901, 801, 701, 601, 501, 401, 301, 201, 101, 1}, ddim.timesteps());
        assertEquals(3, ddim.firstStepForStrength(0.75)); // init 7, t_start 3 → starts at t=601
        assertEquals(0, ddim.firstStepForStrength(1.0));
        assertEquals(10, ddim.firstStepForStrength(0.0));
        assertEquals(7, ddim.firstStepForStrength(0.3)); // int(10*0.3) = int(3.0000000000000004) = 3
        Scheduler pndm = Schedulers.create(Sampler.PNDM, cfg, 7);
        assertEquals(8, pndm.numSteps());
        assertEquals(4, pndm.firstStepForStrength(0.5)); // int(3.5) = 3
        Scheduler euler = Schedulers.create(Sampler.EULER, cfg, 25);
        for (double s : new double[] {0.1, 0.33, 0.5, 0.8, 0.99}) {
            int expected = Math.max(25 - Math.min((int) (25 * s), 25), 0);
            assertEquals(expected, euler.firstStepForStrength(s));
        }
        try (NDManager m = manager.newSubManager()) {
            NDArray orig = m.ones(new Shape(1, 4, 2, 2));
            NDArray noise = m.ones(new Shape(1, 4, 2, 2)).mul(2);
            int i = ddim.firstStepForStrength(0.75);
            double a = AbstractScheduler.alphasCumprod(cfg)[601];
            assertEquals(Math.sqrt(a) + 2 * Math.sqrt(1 - a), ddim.addNoise(orig, noise, i).toFloatArray()[0], 1e-6);
            EulerScheduler e = (EulerScheduler) euler;
            int j = euler.firstStepForStrength(0.5);
            assertEquals(1 + 2 * e.sigmas()[j], euler.addNoise(orig, noise, j).toFloatArray()[0], 1e-5);
            // an img2img run of a multistep sampler starts with a first-order step at index j
            Scheduler dpm = Schedulers.create(Sampler.DPMPP_2M_KARRAS, cfg, 25);
            int k = dpm.firstStepForStrength(0.5);
            NDArray x = dpm.addNoise(orig, noise, k);
            for (int step = k; step < dpm.numSteps(); step++) {
                x = dpm.step(m.zeros(x.getShape()), step, x, NoiseSource.NONE).prevSample();
            }
            // with ε = 0 the data prediction is x/α, the chain ends at the clean estimate exactly
            assertTrue(Math.abs(x.toFloatArray()[0] - dpm.addNoise(orig, noise, k).toFloatArray()[0]
                    / (float) Math.sqrt(dpm.alphaBar(k))) < 1e-3);
        }
    }

    /** A batch of two jobs with their own generators: element 0 equals the same job run alone. */
    @Test
    void batchedEulerAncestralKeepsPerJobNoise() {
        Shape one = new Shape(1, 4, 8, 8);
        try (NDManager m = manager.newSubManager();
                Scheduler single = Schedulers.create(Sampler.EULER_A, SchedulerConfig.stableDiffusion(), 6);
                Scheduler batch = Schedulers.create(Sampler.EULER_A, SchedulerConfig.stableDiffusion(), 6)) {
            TorchGenerator a = new TorchGenerator(108);
            TorchGenerator b0 = new TorchGenerator(108);
            TorchGenerator b1 = new TorchGenerator(77);
            NDArray xs = m.create(a.randn(one.getShape()), one).mul(single.initNoiseSigma());
            NDArray xb = NDArrays.concat(new NDList(m.create(b0.randn(one.getShape()), one),
                    m.create(b1.randn(one.getShape()), one))).mul(batch.initNoiseSigma());
            NoiseSource ns = NoiseSource.of(a);
            NoiseSource nb = NoiseSource.of(b0, b1);
            Random rnd = new Random(5);
            for (int i = 0; i < single.numSteps(); i++) {
                float[] e = new float[2 * 256];
                for (int k = 0; k < e.length; k++) {
                    e[k] = (float) rnd.nextGaussian();
                }
                NDArray epsB = m.create(e, new Shape(2, 4, 8, 8));
                xs = single.step(epsB.get("0:1"), i, xs, ns).prevSample();
                xb = batch.step(epsB, i, xb, nb).prevSample();
                double dd = RefData.maxAbsDiff(xs.toFloatArray(), xb.get("0:1").toFloatArray());
                assertTrue(dd < 1e-4 * Math.max(1, RefData.maxAbs(xs.toFloatArray())), "step " + i + ": " + dd);
                assertTrue(RefData.maxAbsDiff(xb.get("0:1").toFloatArray(), xb.get("1:2").toFloatArray()) > 0.1);
            }
        }
    }
}
