package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.junit.jupiter.api.Test;

/** diffusers' {@code rescale_noise_cfg} (guidance_rescale) per row. */
class GuidanceRescaleTest {
    @Test
    void rescalesEachRowTowardsThePositiveStandardDeviation() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            // row 0: guided = 3·pos, so std(g) = 3·std(pos); row 1: guided = pos + 1
            float[] pos = {1, 2, 3, 4, -1, 0, 1, 2};
            float[] guided = {3, 6, 9, 12, 0, 1, 2, 3};
            NDArray p = m.create(pos, new Shape(2, 2, 2, 1));
            NDArray g = m.create(guided, new Shape(2, 2, 2, 1));
            NDArray phi = m.create(new float[] {1f, 0.5f}, new Shape(2, 1, 1, 1));
            float[] out = Denoiser.rescaleNoiseCfg(g, p, phi).toFloatArray();
            // φ = 1: g·std(pos)/std(g) = g/3 = pos
            assertArrayEquals(new float[] {1, 2, 3, 4}, java.util.Arrays.copyOfRange(out, 0, 4), 1e-5f);
            // equal spreads: the ratio is 1, so g is unchanged whatever φ
            assertArrayEquals(new float[] {0, 1, 2, 3}, java.util.Arrays.copyOfRange(out, 4, 8), 1e-5f);
            NDArray zero = m.create(new float[] {0f, 0f}, new Shape(2, 1, 1, 1));
            assertArrayEquals(guided, Denoiser.rescaleNoiseCfg(g, p, zero).toFloatArray(), 0f);
            // φ = 0.5 on row 0: 0.5·pos + 0.5·g = 2·pos
            NDArray half = m.create(new float[] {0.5f, 0f}, new Shape(2, 1, 1, 1));
            assertEquals(8f, Denoiser.rescaleNoiseCfg(g, p, half).toFloatArray()[3], 1e-5f);
        }
    }

    @Test
    void requestsCheckTheRange() {
        GenerationRequest r = GenerationRequest.of("x", 64, 64, 2, Sampler.EULER, 1);
        assertEquals(0.7, r.withGuidanceRescale(0.7).guidanceRescale());
        assertThrows(IllegalArgumentException.class, () -> r.withGuidanceRescale(1.5));
        assertThrows(IllegalArgumentException.class, () -> r.withGuidanceRescale(-0.1));
        assertEquals(List.of(1L), r.withGuidanceRescale(0.7).seeds());
    }
}
