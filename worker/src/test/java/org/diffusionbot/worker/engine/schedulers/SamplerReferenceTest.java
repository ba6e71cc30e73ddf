package org.diffusionbot.worker.engine.schedulers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.random.TorchGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The samplers lcm, heun, dpmpp_2m_sde(_karras) and the schedules (trailing, karras, exponential)
 * against every case of {@code tiny-sd15/cases-samplers.json}: timesteps, and latents and x0 within
 * 1e-3·max(1, max|ref|) at every step, the UNet output reconstructed from the reference x0 and the
 * stochastic samplers' noise drawn from the case's generator after the initial noise (as diffusers).
 */
public class SamplerReferenceTest {
    public static final String CASES = "/reference/tiny-sd15/cases-samplers.json";
    public static final String TENSORS = "/reference/tiny-sd15/reference-samplers.safetensors";
    private static NDManager manager;

    @BeforeAll
    static void setUp() {
        manager = NDManager.newBaseManager(Device.cpu());
    }

    @AfterAll
    static void tearDown() {
        manager.close();
    }

    public static List<JsonObject> caseList() {
        List<JsonObject> out = new ArrayList<>();
        for (JsonElement e : RefData.json(CASES).getAsJsonArray("pipeline_cases")) {
            out.add(e.getAsJsonObject());
        }
        return out;
    }

    public static Stream<Arguments> cases() {
        List<JsonObject> all = caseList();
        assertEquals(10, all.size());
        return all.stream().map(c -> Arguments.of(c.get("key").getAsString() + " " + c.get("scheduler").getAsString()
                + (c.has("schedule") ? " " + c.get("schedule").getAsString() : ""), c));
    }

    public static Schedule schedule(JsonObject c) {
        return c.has("schedule") ? Schedule.fromId(c.get("schedule").getAsString()) : Schedule.DEFAULT;
    }

    static RefData.Tensor tensor(String name) {
        return RefData.tensorIn(TENSORS, name);
    }

    private static NDArray nd(NDManager m, RefData.Tensor t) {
        return m.create(t.data(), new Shape(t.shape()));
    }

    private static void assertClose(RefData.Tensor ref, NDArray actual, String what) {
        double tol = 1e-3 * Math.max(1, RefData.maxAbs(ref.data()));
        double d = RefData.maxAbsDiff(actual.toFloatArray(), ref.data());
        assertTrue(d <= tol, what + ": max |Δ| " + d + " > " + tol);
    }

    /**
     * Timesteps equal, except that the fractional ones of a Karras or exponential sigma-space
     * schedule (Euler, Heun, LMS) may differ by 1e-5 relative: diffusers mixes float32 log-sigmas
     * with float64 sigmas in {@code _sigma_to_t}.
     */
    public static void assertTimesteps(float[] ref, float[] actual, String what) {
        assertEquals(ref.length, actual.length, what + " timesteps count");
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], actual[i], 1e-5 * Math.max(1, Math.abs(ref[i])), what + " timesteps[" + i + "]");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesDiffusersAtEveryStep(String name, JsonObject c) {
        String key = c.get("key").getAsString();
        Sampler sampler = Sampler.fromId(c.get("scheduler").getAsString());
        int steps = c.get("steps").getAsInt();
        RefData.Tensor init = tensor(key + ".init_noise");
        RefData.Tensor latents = tensor(key + ".latents");
        RefData.Tensor x0s = tensor(key + ".x0");
        RefData.Tensor ts = tensor(key + ".timesteps");
        try (NDManager m = manager.newSubManager();
                Scheduler s = Schedulers.create(sampler, schedule(c), SchedulerConfig.stableDiffusion(), steps)) {
            assertTimesteps(ts.data(), s.timesteps(), name);
            assertEquals(c.get("unet_evaluations").getAsInt(), s.numSteps(), name);
            assertEquals(sampler.modelCallsFor(steps), s.numSteps(), name + " model calls");
            // the seed's generator gives the initial noise, then (stochastic samplers) the per-step noise
            TorchGenerator gen = new TorchGenerator(c.get("seed").getAsLong());
            float[] drawn = gen.randn(init.shape());
            assertTrue(RefData.maxAbsDiff(drawn, init.data()) < 1e-6, name + " init noise");
            NoiseSource noise = s.isStochastic() ? NoiseSource.of(gen) : NoiseSource.NONE;
            NDArray sample = nd(m, init).mul(s.initNoiseSigma());
            for (int i = 0; i < s.numSteps(); i++) {
                NDArray x0ref = nd(m, x0s.slice(i)).expandDims(0);
                NDArray eps = SchedulerReferenceTest.epsilonFromX0(s, i, sample, x0ref);
                StepResult r = s.step(eps, i, sample, noise);
                assertClose(latents.slice(i), r.prevSample(), name + " latents[" + i + "]");
                assertClose(x0s.slice(i), r.x0(), name + " x0[" + i + "]");
                // continue from the reference, so one step's error does not carry into the next
                sample = nd(m, latents.slice(i)).expandDims(0);
            }
        }
    }

    /** Every sampler and every schedule has a reference case, in cases.json (default schedule) or here. */
    @Test
    void everySamplerAndScheduleHasACase() {
        List<String> seen = new ArrayList<>();
        for (JsonObject c : caseList()) {
            seen.add(c.get("scheduler").getAsString());
            seen.add(schedule(c).id());
        }
        for (JsonElement e : RefData.json("/reference/tiny-sd15/cases.json").getAsJsonArray("pipeline_cases")) {
            seen.add(e.getAsJsonObject().get("scheduler").getAsString());
        }
        for (Sampler s : Sampler.values()) {
            assertTrue(seen.contains(s.id()), "no reference case for " + s.id());
        }
        for (Schedule s : Schedule.values()) {
            assertTrue(s == Schedule.DEFAULT || seen.contains(s.id()), "no reference case for schedule " + s.id());
        }
    }

    @Test
    void heunTimestepsRepeatAndImg2imgStartsOnAFirstOrderStep() {
        Scheduler h = Schedulers.create(Sampler.HEUN, SchedulerConfig.stableDiffusion(), 4);
        float[] t = h.timesteps();
        assertEquals(7, t.length);
        assertEquals(999f, t[0]);
        assertEquals(t[1], t[2]);
        assertEquals(t[5], t[6]);
        assertEquals(0f, t[6]);
        // diffusers: t_start · order; strength 0.5 of 4 steps → t_start 2 → index 4
        assertEquals(4, h.firstStepForStrength(0.5));
        assertEquals(0, h.firstStepForStrength(1.0));
    }

    @Test
    void lcmTimestepsAndItsLimitOf50Steps() {
        Scheduler l = Schedulers.create(Sampler.LCM, SchedulerConfig.stableDiffusion(), 4);
        org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {999, 759, 499, 259}, l.timesteps());
        Scheduler one = Schedulers.create(Sampler.LCM, SchedulerConfig.stableDiffusion(), 1);
        org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {999}, one.timesteps());
        assertEquals(50, Schedulers.create(Sampler.LCM, SchedulerConfig.stableDiffusion(), 50).numSteps());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create(Sampler.LCM, SchedulerConfig.stableDiffusion(), 51));
        assertEquals("lcm takes at most 50 steps, got 51", e.getMessage());
    }

    /** One step runs for every sampler and schedule it takes (Lightning/Turbo-style 1-step use). */
    @Test
    void oneStepRunsForEverySamplerAndSchedule() {
        Shape shape = new Shape(1, 4, 2, 2);
        for (Sampler sampler : Sampler.values()) {
            for (Schedule schedule : Schedule.values()) {
                if (!sampler.supports(schedule)) {
                    assertThrows(IllegalArgumentException.class,
                            () -> Schedulers.create(sampler, schedule, SchedulerConfig.stableDiffusion()));
                    continue;
                }
                try (NDManager m = manager.newSubManager();
                        Scheduler s = Schedulers.create(sampler, schedule, SchedulerConfig.stableDiffusion(), 1)) {
                    assertEquals(sampler.modelCallsFor(1), s.numSteps(), sampler + " " + schedule);
                    NoiseSource noise = NoiseSource.of(new TorchGenerator(1));
                    NDArray x = m.ones(shape).mul(s.initNoiseSigma());
                    for (int i = 0; i < s.numSteps(); i++) {
                        x = s.step(m.zeros(shape), i, s.scaleModelInput(x, i), noise).prevSample();
                    }
                    for (float v : x.toFloatArray()) {
                        assertTrue(Float.isFinite(v), sampler + " " + schedule + ": " + v);
                    }
                }
            }
        }
    }

    @Test
    void karrasNamesRunKarrasAndRefuseOtherSchedules() {
        assertEquals(Schedule.KARRAS, Sampler.DPMPP_2M_SDE_KARRAS.scheduleWith(Schedule.DEFAULT));
        float[] a = Schedulers.create(Sampler.DPMPP_2M_SDE_KARRAS, SchedulerConfig.stableDiffusion(), 6).timesteps();
        float[] b = Schedulers.create(Sampler.DPMPP_2M_SDE, Schedule.KARRAS, SchedulerConfig.stableDiffusion(), 6)
                .timesteps();
        org.junit.jupiter.api.Assertions.assertArrayEquals(a, b);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Schedulers.create(
                Sampler.EULER_A, Schedule.KARRAS, SchedulerConfig.stableDiffusion()));
        assertEquals("sampler euler_a cannot use schedule karras (it takes default, trailing)", e.getMessage());
    }
}
