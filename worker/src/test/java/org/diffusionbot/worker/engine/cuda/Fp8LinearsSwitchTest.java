package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** When the transformer blocks' FP8 linears are on ({@link NativeOps#fp8LinearsOff()}), and why not otherwise. */
class Fp8LinearsSwitchTest {
    @Test
    void onOnlyWithTheLibraryItsFunctionsTheSwitchAndAnAdaOrNewerGpu() {
        AtomicInteger asked = new AtomicInteger();
        java.util.function.IntSupplier hopper = () -> {
            asked.incrementAndGet();
            return 90;
        };
        assertEquals("native ops not in use", NativeOps.fp8LinearsOff(false, true, true, true, hopper));
        assertEquals("the native library has no FP8 functions: rebuild it", NativeOps.fp8LinearsOff(true, false, true, true,
                hopper));
        assertEquals("SD_FP8_LINEARS=0", NativeOps.fp8LinearsOff(true, true, false, true, hopper));
        assertEquals("SD_LAYERNORM_KERNEL=0 (the FP8 inputs are our LayerNorm kernel's output)",
                NativeOps.fp8LinearsOff(true, true, true, false, hopper));
        assertEquals(0, asked.get(), "the device is asked only when everything else holds");
        assertNull(NativeOps.fp8LinearsOff(true, true, true, true, hopper));
        assertNull(NativeOps.fp8LinearsOff(true, true, true, true, () -> 89), "Ada");
        assertNull(NativeOps.fp8LinearsOff(true, true, true, true, () -> 120), "Blackwell");
        assertEquals("compute capability 8.6, FP8 tensor cores need 8.9", NativeOps.fp8LinearsOff(true, true, true, true,
                () -> 86));
        assertEquals("compute capability 8.0, FP8 tensor cores need 8.9", NativeOps.fp8LinearsOff(true, true, true, true,
                () -> 80));
        assertEquals("no CUDA device", NativeOps.fp8LinearsOff(true, true, true, true, () -> -1));
    }

    @Test
    void ffNet2InFp8OnlyWhereFp8LinearsAreOnTheLibraryHasItAndTheSwitchIsOn() {
        assertEquals("SD_FP8_LINEARS=0", NativeOps.fp8FfOutOff("SD_FP8_LINEARS=0", true, true, true),
                "FP8 linears off: their reason");
        assertEquals("native ops not in use", NativeOps.fp8FfOutOff("native ops not in use", false, true, true));
        assertEquals("the native library has no FP8 ff.net.2 functions: rebuild it", NativeOps.fp8FfOutOff(null, false,
                true, true));
        assertEquals("SD_FP8_FF_OUT=0", NativeOps.fp8FfOutOff(null, true, false, true));
        assertEquals("SD_GEGLU_KERNEL=0 (ff.net.2's FP8 input is our gate kernel's output)",
                NativeOps.fp8FfOutOff(null, true, true, false), "PyTorch's gate passes would cost more than FP8 saves");
        assertNull(NativeOps.fp8FfOutOff(null, true, true, true));
        try {
            NativeOps.FP8_LINEARS.set(true);
            NativeOps.FP8_FF_OUT.set(true);
            if (!NativeOps.available()) {
                assertEquals("native ops not in use", NativeOps.fp8FfOutOff());
                assertFalse(NativeOps.fp8FfOut());
            }
        } finally {
            NativeOps.FP8_LINEARS.set(null);
            NativeOps.FP8_FF_OUT.set(null);
        }
        assertEquals(true, NativeOps.FP8_FF_OUT.on(), "default on (SD_FP8_FF_OUT unset in the tests)");
        assertEquals("SD_FP8_FF_OUT", NativeOps.FP8_FF_OUT.name());
    }

    @Test
    void theE4m3GegluIntermediateOnlyWhereFfNet2IsFp8TheLibraryHasItAndTheSwitchIsOn() {
        assertEquals("SD_FP8_FF_OUT=0", NativeOps.fp8GegluOff("SD_FP8_FF_OUT=0", true, true),
                "ff.net.2 not FP8: its reason (the e4m3 gate writes ff.net.2's FP8 input)");
        assertEquals("SD_FP8_LINEARS=0", NativeOps.fp8GegluOff("SD_FP8_LINEARS=0", false, false));
        assertEquals("the native library has no e4m3 GEGLU functions: rebuild it", NativeOps.fp8GegluOff(null, false,
                true));
        assertEquals("SD_FP8_GEGLU not 1", NativeOps.fp8GegluOff(null, true, false));
        assertNull(NativeOps.fp8GegluOff(null, true, true));
        try {
            NativeOps.FP8_LINEARS.set(true);
            NativeOps.FP8_FF_OUT.set(true);
            NativeOps.FP8_GEGLU.set(true);
            if (!NativeOps.available()) { // the switch off or on, no library: the current (fp16 intermediate) path
                assertEquals("native ops not in use", NativeOps.fp8GegluOff());
                assertFalse(NativeOps.fp8Geglu());
            }
            NativeOps.FP8_GEGLU.set(false);
            assertFalse(NativeOps.FP8_GEGLU.on(), "switched off: the override stored");
            assertEquals("SD_FP8_GEGLU not 1", NativeOps.fp8GegluOff(null, true, NativeOps.FP8_GEGLU.on()),
                    "the switch's own reason where ff.net.2 is FP8 and the library has the functions");
            assertFalse(NativeOps.fp8Geglu(), "switched off (with or without the library)");
        } finally {
            NativeOps.FP8_LINEARS.set(null);
            NativeOps.FP8_FF_OUT.set(null);
            NativeOps.FP8_GEGLU.set(null);
        }
        assertEquals(false, NativeOps.FP8_GEGLU.on(), "default off (SD_FP8_GEGLU unset in the tests)");
        assertEquals("SD_FP8_GEGLU", NativeOps.FP8_GEGLU.name());
    }

    /**
     * SD_FP8_GEGLU is opt-in: the final H200 run (2026-12-01, session 13) measured no speed from it (UNet batch 16
     * 23.1 ms either way) and a cost in image quality (FP8 on against off 53.4 dB without it, 52.5 dB with it).
     */
    @Test
    void theE4m3GegluIntermediateIsOffUnlessItsSettingIs1() {
        assertFalse(NativeOps.FP8_GEGLU.on(), "off by default (SD_FP8_GEGLU unset in the tests)");
        assertFalse(NativeOps.fp8Geglu(), "not written as e4m3 by default");
        String was = System.getProperty("SD_FP8_GEGLU");
        try { // the setting read again as when the library loads (its probe fails without the library: unlinked)
            for (String v : new String[] {"0", "true", "on", ""}) {
                System.setProperty("SD_FP8_GEGLU", v);
                NativeOps.FP8_GEGLU.load();
                assertFalse(NativeOps.FP8_GEGLU.on(), "SD_FP8_GEGLU=" + v + ": off");
            }
            System.setProperty("SD_FP8_GEGLU", "1");
            NativeOps.FP8_GEGLU.load();
            assertTrue(NativeOps.FP8_GEGLU.on(), "SD_FP8_GEGLU=1: on");
        } finally {
            if (was == null) {
                System.clearProperty("SD_FP8_GEGLU");
            } else {
                System.setProperty("SD_FP8_GEGLU", was);
            }
            NativeOps.FP8_GEGLU.load();
        }
        assertFalse(NativeOps.FP8_GEGLU.on(), "restored: off");
        assertEquals("SD_FP8_GEGLU not 1", NativeOps.fp8GegluOff(null, true, NativeOps.FP8_GEGLU.on()),
                "its reason where ff.net.2 is FP8 and the library has the functions");
        assertTrue(NativeOps.FP8_FF_OUT.on() && NativeOps.FP8_LINEARS.on() && NativeOps.FP8_CONV.on(),
                "the other FP8 paths stay on by default");
    }

    @Test
    void theFp8GatesReferenceScalesEachRowByItsAmaxOver448AndAZeroRowBy1() {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager(ai.djl.Device.cpu())) {
            ai.djl.ndarray.NDArray v = m.create(new float[] {0, 0, 0, 0, 1, -2, 0.5f, 4, 448, -896, 1e-3f, 3},
                    new ai.djl.ndarray.types.Shape(3, 1, 4));
            ai.djl.ndarray.NDArray[] r = KernelSelfCheck.gateFp8Reference(v);
            assertEquals(new ai.djl.ndarray.types.Shape(3, 1, 4), r[0].getShape());
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {1, 4 / 448f, 2}, r[1].toFloatArray(),
                    "all zero: 1; else amax / 448");
            float[] q = r[0].toFloatArray();
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {0, 0, 0, 0}, java.util.Arrays.copyOf(q, 4));
            assertEquals(448, q[7], 1e-3, "the row's amax maps to e4m3's largest value");
            assertEquals(-448, q[9], 1e-3);
            assertEquals(224, q[8], 1e-3);
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {112, -224, 56, 448},
                    java.util.Arrays.copyOfRange(q, 4, 8), "v * (448 / amax): 448 / 4 = 112");
        }
    }

    @Test
    void theFp8GatesReferenceMultipliesByTheRowsReciprocalScaleNotDividesByTheScale() {
        // geglu.cu's row_scale: e4m3(v * r) with r = 448 / amax, both fp32 roundings to nearest even; v / (amax / 448)
        // rounds apart for this v (0.078125 * 149.33333 = 11.666666, 0.078125 / 0.0066964286 = 11.666667)
        float v = 0.078125f;
        float amax = 3;
        float r = 448f / amax;
        assertTrue(v * r != v / (amax / 448f), "an example where the two rules round apart");
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager(ai.djl.Device.cpu())) {
            ai.djl.ndarray.NDArray[] ref = KernelSelfCheck.gateFp8Reference(m.create(new float[] {v, -amax},
                    new ai.djl.ndarray.types.Shape(1, 2)));
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {v * r, -amax * r}, ref[0].toFloatArray());
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {amax / 448f}, ref[1].toFloatArray(),
                    "the stored scale stays amax / 448");
        }
    }

    @Test
    void offWithoutTheLibraryWhateverTheOverride() {
        try {
            NativeOps.FP8_LINEARS.set(true);
            if (!NativeOps.available()) {
                assertEquals("native ops not in use", NativeOps.fp8LinearsOff());
                assertFalse(NativeOps.fp8Linears());
            }
        } finally {
            NativeOps.FP8_LINEARS.set(null);
        }
    }

    @Test
    void theSelfCheckCountsE4m3StepsAcrossZero() {
        assertEquals(0, KernelSelfCheck.e4m3Order((byte) 0x00));
        assertEquals(0, KernelSelfCheck.e4m3Order((byte) 0x80), "-0");
        assertEquals(1, KernelSelfCheck.e4m3Order((byte) 0x01), "the smallest subnormal");
        assertEquals(-1, KernelSelfCheck.e4m3Order((byte) 0x81));
        assertEquals(126, KernelSelfCheck.e4m3Order((byte) 0x7e), "448");
        assertEquals(-126, KernelSelfCheck.e4m3Order((byte) 0xfe), "-448");
        assertEquals(1, KernelSelfCheck.e4m3Order((byte) 0x39) - KernelSelfCheck.e4m3Order((byte) 0x38),
                "1.125 is one step above 1.0");
    }

    @Test
    void theSwitchIsOnUnlessZeroAndNeedsTheLibrarysFp8Functions() {
        String name = "SD_TEST_FP8_SWITCH";
        try {
            int[] probes = {0};
            NativeOps.Switch s = new NativeOps.Switch(name, null, () -> probes[0]++, "FP8 test", "nothing");
            s.load();
            assertEquals(true, s.active(), "unset: on");
            System.setProperty(name, "0");
            s.load();
            assertFalse(s.on(), "0: off");
            assertEquals(2, probes[0], "probed at each load");
            System.clearProperty(name);
            NativeOps.Switch old = new NativeOps.Switch(name, null, () -> {
                throw new UnsatisfiedLinkError("no linearFp8");
            }, "FP8 test", "nothing");
            old.load();
            assertEquals(true, old.on());
            assertFalse(old.active(), "a library built before the FP8 functions");
            assertEquals(true, NativeOps.FP8_LINEARS.on(), "default on (SD_FP8_LINEARS unset in the tests)");
            assertFalse(NativeOps.FP8_LINEARS.active(), "no library in the tests");
        } finally {
            System.clearProperty(name);
        }
    }

    @Test
    void theJavaSideLaysOutTheScalesAsTheLibraryReadsThem() throws java.io.IOException {
        // Fp8Linear allocates the scale buffer that sd_native_ops.cc hands cuBLASLt (s_w and 1/s_x 16 bytes apart)
        String cc = java.nio.file.Files.readString(java.nio.file.Path.of("src/main/native/sd_native_ops.cc"));
        assertTrue(cc.contains("constexpr int64_t kFp8ScaleSlots = "
                + org.diffusionbot.worker.engine.models.Fp8Linear.SCALE_SLOTS + ";"), "kFp8ScaleSlots");
        assertTrue(cc.contains("constexpr int64_t kFp8InputScale = "
                + org.diffusionbot.worker.engine.models.Fp8Linear.INPUT_SCALE_SLOT + ";"), "kFp8InputScale");
    }

    @Test
    void everyFp8SwitchIsInTheOneListOfFp8Paths() throws IllegalAccessException {
        java.util.Set<NativeOps.Switch> listed = new java.util.HashSet<>();
        NativeOps.FP8_PATHS.forEach(p -> listed.add(p.toggle()));
        int fp8 = 0;
        for (java.lang.reflect.Field f : NativeOps.class.getDeclaredFields()) {
            if (java.lang.reflect.Modifier.isStatic(f.getModifiers()) && f.getType() == NativeOps.Switch.class) {
                f.setAccessible(true);
                NativeOps.Switch s = (NativeOps.Switch) f.get(null);
                if (s.name().contains("FP8")) {
                    fp8++;
                    assertTrue(listed.contains(s), s.name() + " (NativeOps." + f.getName() + ") missing from FP8_PATHS");
                }
            }
        }
        assertEquals(fp8, NativeOps.FP8_PATHS.size(), "FP8_PATHS holds NativeOps' FP8 switches, each once");
        assertTrue(fp8 >= 3, "SD_FP8_LINEARS, SD_FP8_FF_OUT, SD_FP8_GEGLU at least");
    }

    @Test
    void theWorkaroundNamesTheFp8SwitchesThatAreOnElseAllOfThem() {
        assertEquals("SD_FP8_LINEARS=0 SD_FP8_FF_OUT=0 SD_FP8_CONV=0", NativeOps.fp8Workaround(),
                "the defaults: SD_FP8_GEGLU is off unless 1");
        try {
            NativeOps.FP8_GEGLU.set(true);
            assertEquals("SD_FP8_LINEARS=0 SD_FP8_FF_OUT=0 SD_FP8_GEGLU=0 SD_FP8_CONV=0", NativeOps.fp8Workaround());
            NativeOps.setFp8(false);
            assertEquals("SD_FP8_LINEARS=0 SD_FP8_FF_OUT=0 SD_FP8_GEGLU=0 SD_FP8_CONV=0", NativeOps.fp8Workaround(),
                    "none on: every switch");
            NativeOps.FP8_CONV.set(true);
            assertEquals("SD_FP8_CONV=0", NativeOps.fp8Workaround());
        } finally {
            NativeOps.setFp8(null);
        }
    }

    @Test
    void setFp8TurnsEveryFp8SwitchOffOrOnAndNullRestoresThem() {
        try {
            NativeOps.setFp8(false);
            NativeOps.FP8_PATHS.forEach(p -> assertFalse(p.toggle().on(), p.toggle().name()));
            NativeOps.setFp8(true);
            NativeOps.FP8_PATHS.forEach(p -> assertTrue(p.toggle().on(), p.toggle().name()));
            NativeOps.setFp8(false);
        } finally {
            NativeOps.setFp8(null);
        }
        NativeOps.FP8_PATHS.forEach(p -> assertEquals(p.toggle() != NativeOps.FP8_GEGLU, p.toggle().on(),
                p.toggle().name() + ": its default (on, SD_FP8_GEGLU off), restored"));
        if (!NativeOps.available()) {
            assertEquals("native ops not in use", NativeOps.fp8Off(), "the paths' one reason, once");
            assertEquals(java.util.List.of(), NativeOps.fp8PathsOn());
        }
    }
}
