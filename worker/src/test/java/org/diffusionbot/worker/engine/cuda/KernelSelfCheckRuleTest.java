package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

    /**
     * The Java mirror ({@link KernelSelfCheck#oneLaunchGroupNorm}) against group_norm_nhwc.cu's own rule as its source
     * states it ({@code one_pass}: {@code kOneThreads}, {@code kOneMaxChannels}, {@code one_halves}, {@code
     * one_pass_width}), read from the file as the FP8 scale slots' test reads sd_native_ops.cc: a changed constant or
     * rule there fails here until the mirror follows.
     */
    @Test
    void theMirrorFollowsGroupNormNhwcCusConstants() throws IOException {
        String cu = Files.readString(Path.of("src/main/native/group_norm_nhwc.cu")).replaceAll("\\s+", " ");
        int threads = constant(cu, "kOneThreads");
        int maxChannels = constant(cu, "kOneMaxChannels");
        Matcher h = Pattern.compile("constexpr int one_halves\\(int v\\) \\{ return v == 2 \\? (\\d+) : (\\d+); \\}")
                .matcher(cu);
        assertTrue(h.find(), "one_halves(v): v == 2 ? A : B");
        int halves2 = Integer.parseInt(h.group(1));
        int halves = Integer.parseInt(h.group(2));
        assertTrue(cu.contains("return d % 8 == 0 ? 8 : d % 4 == 0 ? 4 : d % 2 == 0 ? 2 : 0;"),
                "one_pass_width: vectors of 8, 4 or 2 halves (4-byte ones only where d is not a multiple of 4)");
        assertTrue(cu.contains("v != 0 && d <= kOneMaxChannels && hw * d <= static_cast<int64_t>(kOneThreads) *"
                + " one_halves(v);"), "one_pass's rule");
        assertEquals(512, threads, "kOneThreads");
        assertEquals(1024, maxChannels, "kOneMaxChannels");
        assertEquals(24576, threads * halves, "48 halves a thread for 8- and 16-byte vectors");
        assertEquals(16384, threads * halves2, "32 for 4-byte ones");
        for (int groups : new int[] {1, 8, 32}) {
            for (int d = 1; d <= maxChannels + 40; d++) {
                int limit = threads * (d % 4 == 0 ? halves : halves2);
                for (long hw : new long[] {1, 64, 256, 1024, limit / d, limit / d + 1}) {
                    boolean cpp = d % 2 == 0 && d <= maxChannels && hw * d <= limit;
                    assertEquals(cpp, KernelSelfCheck.oneLaunchGroupNorm(hw, (long) d * groups, groups),
                            "hw " + hw + ", d " + d + ", groups " + groups);
                }
            }
        }
    }

    private static int constant(String cu, String name) {
        Matcher m = Pattern.compile("constexpr int " + name + " = (\\d+);").matcher(cu);
        assertTrue(m.find(), name);
        return Integer.parseInt(m.group(1));
    }

    /**
     * The attention cases' error verdict: the ratio to SDPA's own error has a floor of one output ulp (a case that
     * failed on the H200 on 2026-12-01 printed as 0.00012 against SDPA's 0.00006, both within an fp16 ulp of outputs up to
     * ~0.3), the ratio still binds above it, the absolute cap always, and float32 outputs get float32's ulp.
     */
    @Test
    void attentionErrorsWithinOneOutputUlpPassWhateverSdpasLuck() {
        assertEquals(0x1p-10, KernelSelfCheck.fp16Ulp(1.0));
        assertEquals(0x1p-12, KernelSelfCheck.fp16Ulp(0.3));
        assertEquals(0x1p-12, KernelSelfCheck.fp16Ulp(-0.3));
        assertEquals(0x1p-24, KernelSelfCheck.fp16Ulp(1e-6));
        assertTrue(KernelSelfCheck.attentionErrorPasses(0.000122, 0.000058, 0.3, DataType.FLOAT16));
        assertTrue(KernelSelfCheck.attentionErrorPasses(0.0009, 0.0005, 0.3, DataType.FLOAT16));
        assertFalse(KernelSelfCheck.attentionErrorPasses(0.0009, 0.0003, 0.3, DataType.FLOAT16));
        assertFalse(KernelSelfCheck.attentionErrorPasses(0.003, 0.002, 1.0, DataType.FLOAT16));
        assertFalse(KernelSelfCheck.attentionErrorPasses(0.000122, 0.000058, 0.3, DataType.FLOAT32));
    }
}
