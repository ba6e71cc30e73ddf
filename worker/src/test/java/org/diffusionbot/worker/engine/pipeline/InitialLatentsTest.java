package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.random.TorchGenerator;
import org.diffusionbot.worker.engine.schedulers.Scheduler;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig;
import org.diffusionbot.worker.engine.schedulers.Schedulers;
import org.junit.jupiter.api.Test;

/**
 * txt2img's initial latents ({@link InitialLatents#txt2img}): rows of distinct generators drawn in parallel give exactly
 * the values of drawing them one after the other, and a generator serving several rows draws them in row order.
 */
class InitialLatentsTest {
    private static final Shape ONE = new Shape(1, 4, 64, 64);

    /** Row after row, each row {@code gens[i].randn(one)} times the scheduler's initial sigma, as diffusers draws them. */
    private static float[] sequential(TorchGenerator[] gens, float sigma) {
        int per = (int) ONE.size();
        float[] all = new float[per * gens.length];
        for (int i = 0; i < gens.length; i++) {
            float[] r = gens[i].randn(ONE.getShape());
            for (int j = 0; j < per; j++) {
                all[i * per + j] = r[j] * sigma;
            }
        }
        return all;
    }

    private static TorchGenerator[] seeded(long... seeds) {
        TorchGenerator[] g = new TorchGenerator[seeds.length];
        for (int i = 0; i < seeds.length; i++) {
            g[i] = new TorchGenerator(seeds[i]);
        }
        return g;
    }

    @Test
    void distinctGeneratorsDrawTheValuesOfRowAfterRow() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
                Scheduler s = Schedulers.create(Sampler.EULER, SchedulerConfig.stableDiffusion(), 30)) {
            long[] seeds = {7, 123456789L, 42, 0, 99, 2_000_000_000L, 5, 6};
            TorchGenerator[] gens = seeded(seeds);
            assertTrue(InitialLatents.distinct(gens));
            float[] got = InitialLatents.txt2img(m, s, gens, ONE).toFloatArray();
            assertArrayEquals(sequential(seeded(seeds), s.initNoiseSigma()), got, 0f);
        }
    }

    @Test
    void aGeneratorOfSeveralRowsDrawsThemInRowOrder() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
                Scheduler s = Schedulers.create(Sampler.EULER, SchedulerConfig.stableDiffusion(), 30)) {
            TorchGenerator shared = new TorchGenerator(11);
            TorchGenerator other = new TorchGenerator(12);
            TorchGenerator[] gens = {shared, other, shared, shared};
            assertFalse(InitialLatents.distinct(gens));
            float[] got = InitialLatents.txt2img(m, s, gens, ONE).toFloatArray();
            TorchGenerator shared2 = new TorchGenerator(11);
            TorchGenerator other2 = new TorchGenerator(12);
            assertArrayEquals(sequential(new TorchGenerator[] {shared2, other2, shared2, shared2}, s.initNoiseSigma()),
                    got, 0f);
        }
    }
}
