package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link KernelSelfCheck#within}: the pass rule of every fp16 case (now also of each cuBLASLt candidate algorithm
 * autotuning may pick), on {max, mean} absolute errors against the fp32 oracle.
 */
class KernelSelfCheckRuleTest {
    @Test
    void withinFp16RoundingOrNoWorseThanPyTorchsOwnFp16ResultPlusAQuarter() {
        float[] torch = {0.05f, 0.002f};
        assertTrue(KernelSelfCheck.within(new float[] {0.02f, 1e-3f}, torch), "fp16 rounding, whatever PyTorch's");
        assertTrue(KernelSelfCheck.within(new float[] {0.0625f, 0.0025f}, torch), "1.25x PyTorch's, both figures");
        assertFalse(KernelSelfCheck.within(new float[] {0.07f, 0.002f}, torch), "max beyond 1.25x");
        assertFalse(KernelSelfCheck.within(new float[] {0.05f, 0.003f}, torch), "mean beyond 1.25x");
        assertFalse(KernelSelfCheck.within(new float[] {0.01f, 2e-3f}, new float[] {0.01f, 1e-3f}),
                "small max but a mean beyond both bounds");
        assertFalse(KernelSelfCheck.within(new float[] {Float.NaN, Float.NaN}, torch), "NaN fails");
    }

    /**
     * {@link KernelSelfCheck#oneLaunchGroupNorm}, the GroupNorm cases' expected path with {@code SD_GROUP_NORM_ONE_PASS}
     * on (group_norm_nhwc.cu's {@code one_pass}): SD 1.5's 8x8 and 16x16 levels take one launch, so do the 32x32
     * level's 320 and 640 channels; larger groups, odd channels per group and more than 1024 take three.
     */
    @Test
    void oneLaunchForTheSmallLevelsOfSd15AndThreeForTheLargeOnes() {
        for (long c : new long[] {640, 1280, 1920, 2560}) {
            assertTrue(KernelSelfCheck.oneLaunchGroupNorm(8 * 8, c, 32), "8x8, " + c);
            assertTrue(KernelSelfCheck.oneLaunchGroupNorm(16 * 16, c, 32), "16x16, " + c);
        }
        assertTrue(KernelSelfCheck.oneLaunchGroupNorm(32 * 32, 320, 32), "10 a group, 4-byte vectors: 10240 values");
        assertTrue(KernelSelfCheck.oneLaunchGroupNorm(32 * 32, 640, 32), "20 a group, 8-byte vectors: 20480 values");
        assertFalse(KernelSelfCheck.oneLaunchGroupNorm(32 * 32, 960, 32), "30 a group, 4-byte vectors: 30720 > 16384");
        assertFalse(KernelSelfCheck.oneLaunchGroupNorm(32 * 32, 1280, 32), "40960 values > 24576");
        assertFalse(KernelSelfCheck.oneLaunchGroupNorm(64 * 64, 320, 32), "the 64x64 level");
        assertFalse(KernelSelfCheck.oneLaunchGroupNorm(64 * 64, 512, 32), "the VAE");
        assertTrue(KernelSelfCheck.oneLaunchGroupNorm(24, 1024, 1), "1024 channels in one group, 24576 values");
        assertFalse(KernelSelfCheck.oneLaunchGroupNorm(1, 1040, 1), "more than 1024 channels in a group");
        assertFalse(KernelSelfCheck.oneLaunchGroupNorm(24 * 16, 40, 8), "5 channels a group: no vector of 2");
        assertTrue(KernelSelfCheck.oneLaunchGroupNorm(16, 4160, 32), "130 a group, 4-byte vectors: 2080 values");
    }
}
