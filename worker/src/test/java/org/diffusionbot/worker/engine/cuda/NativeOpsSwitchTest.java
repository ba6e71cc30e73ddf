package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * {@link NativeOps.Switch}: a setting read when the library loads (on unless {@code 0}, or off unless {@code 1}),
 * handed to the library's setter, set and restored later by A/Bs and the kernel self-check, and off whatever it says
 * where the library lacks its functions. Fake setters and probes stand for the library's here; the switches of {@link
 * NativeOps} itself are checked as they are without the library (no native library in the tests).
 */
class NativeOpsSwitchTest {
    private static final String NAME = "SD_TEST_NATIVE_SWITCH";
    private final List<Boolean> handed = new ArrayList<>();

    @AfterEach
    void clear() {
        System.clearProperty(NAME);
    }

    @Test
    void theSettingIsReadAtLoadHandedToTheSetterAndRestoredAfterAnOverride() {
        System.setProperty(NAME, "0");
        NativeOps.Switch s = new NativeOps.Switch(NAME, handed::add);
        assertTrue(s.on(), "the default before the library loads");
        assertFalse(s.linked());
        s.load();
        assertEquals(List.of(false), handed, "SD_...=0 handed to the library once");
        assertFalse(s.on());
        assertTrue(s.linked());
        assertFalse(s.active());
        assertEquals(NAME + " off", s.toString());

        System.setProperty(NAME, "1"); // read once: later changes of the setting do not count
        s.set(true);
        assertTrue(s.active());
        s.set(null);
        assertFalse(s.on(), "null restores the configured value, not the setting now");
        assertEquals(List.of(false, true, false), handed);
    }

    @Test
    void onUnlessZeroAndOffByDefaultUnlessOne() {
        NativeOps.Switch on = new NativeOps.Switch(NAME, handed::add);
        on.load();
        assertTrue(on.active(), "unset: on");
        System.setProperty(NAME, "yes");
        on.load();
        assertTrue(on.on(), "anything but 0: on");

        NativeOps.Switch off = NativeOps.Switch.offByDefault(NAME, handed::add);
        assertFalse(off.on());
        off.load();
        assertFalse(off.on(), "off unless 1");
        System.setProperty(NAME, "1");
        off.load();
        assertTrue(off.active());
        assertEquals(List.of(true, true, false, true), handed);
    }

    @Test
    void anOffByDefaultSwitchOfLaterFunctionsIsProbedAndOffUnlessOne() {
        int[] probes = {0};
        NativeOps.Switch s = NativeOps.Switch.offByDefault(NAME, null, () -> probes[0]++, "test", "nothing changes");
        assertFalse(s.on());
        s.load();
        assertEquals(1, probes[0]);
        assertTrue(s.linked());
        assertFalse(s.on(), "unset: off");
        System.setProperty(NAME, "1");
        s.load();
        assertTrue(s.active(), "1: on");
        System.setProperty(NAME, "yes");
        s.load();
        assertFalse(s.on(), "anything but 1: off");
        NativeOps.Switch missing = NativeOps.Switch.offByDefault(NAME, null, () -> {
            throw new UnsatisfiedLinkError("no such function");
        }, "test", "nothing changes");
        System.setProperty(NAME, "1");
        missing.load();
        assertTrue(missing.on());
        assertFalse(missing.active(), "on, but not in this library");
    }

    @Test
    void aLibraryWithoutTheFunctionsLeavesTheSwitchOffAndTheSetterUncalledAfterItsProbe() {
        int[] probes = {0};
        NativeOps.Switch s = new NativeOps.Switch(NAME, handed::add, () -> {
            probes[0]++;
            throw new UnsatisfiedLinkError("no such function");
        }, "test", "nothing changes");
        s.load();
        assertEquals(1, probes[0]);
        assertEquals(List.of(true), handed, "the setter is part of the probe");
        assertTrue(s.on());
        assertFalse(s.linked());
        assertFalse(s.active(), "on, but not in this library");
        assertEquals(NAME + " off (not in this library)", s.toString());
        s.set(false);
        s.set(null);
        assertEquals(List.of(true), handed, "never handed to a library that lacks it");
        assertTrue(s.on());
    }

    @Test
    void aSwitchReadOnTheJavaSideIsLinkedWhenItsProbePasses() {
        NativeOps.Switch s = new NativeOps.Switch(NAME, null, () -> { }, "test", "nothing changes");
        System.setProperty(NAME, "0");
        s.load();
        assertTrue(s.linked());
        assertFalse(s.active());
        s.set(true);
        assertTrue(s.active());
    }

    @Test
    void withoutTheLibraryNoSwitchIsLinkedAndOverridesCallNothing() {
        Assumptions.assumeFalse(NativeOps.available(), "the native library is loaded");
        for (NativeOps.Switch s : List.of(NativeOps.CUDNN_ATTENTION, NativeOps.LORA_NATIVE, NativeOps.FUSED_BIAS_NORM,
                NativeOps.CONV1X1_GEMM, NativeOps.UPBLOCK_NO_CAT, NativeOps.LT_RESIDUAL, NativeOps.LT_AUTOTUNE,
                NativeOps.UPSAMPLE_KERNEL, NativeOps.FP32_GROUPNORM, NativeOps.SELF_ATTENTION_KERNEL,
                NativeOps.CROSS_ATTENTION_KERNEL, NativeOps.TIME_PROJ_KERNEL, NativeOps.WIDE_HEAD_ATTENTION,
                NativeOps.GROUP_NORM_ONE_PASS)) {
            assertFalse(s.linked(), s.name());
            assertFalse(s.active(), s.name());
            s.set(false); // no UnsatisfiedLinkError: nothing is handed to a library that is not there
            assertFalse(s.on(), s.name());
            s.set(null);
            assertTrue(s.on(), s.name() + ": the default, as nothing was read");
        }
        assertFalse(NativeOps.CUDNN_BENCHMARK.on());
        assertFalse(NativeOps.fusedBiasNorm());
        assertFalse(NativeOps.upblockNoCat());
        assertFalse(NativeOps.loraPatches());
        assertFalse(NativeOps.upsampleNearest());
        assertFalse(NativeOps.timeProjKernel(), "the UNet's blocks project the time embedding themselves");
    }

    @Test
    void autotuningIsOnUnlessZeroAndItsReportSaysWhyThereIsNoneWithoutTheLibrary() {
        // NativeOps.LT_AUTOTUNE's kind of switch: on by default, a setter of the library's that is also its probe (a
        // library built before autotuning lacks it: unlinked, and the report says to rebuild)
        NativeOps.Switch s = new NativeOps.Switch(NAME, handed::add, null, "cuBLASLt autotuning",
                "cuBLASLt runs its heuristic's first algorithm");
        s.load();
        assertTrue(s.active(), "unset: on");
        System.setProperty(NAME, "0");
        s.load();
        assertFalse(s.on(), "0: the heuristic's first pick and at::linear");
        s.set(true); // the benchmark's A/B and the kernel self-check set it, and restore it
        s.set(null);
        assertFalse(s.on());
        assertEquals(List.of(true, false, true, false), handed);

        assertEquals("SD_LT_AUTOTUNE", NativeOps.LT_AUTOTUNE.name());
        Assumptions.assumeFalse(NativeOps.available(), "the native library is loaded");
        assertTrue(NativeOps.LT_AUTOTUNE.on(), "on by default");
        assertFalse(NativeOps.LT_AUTOTUNE.linked());
        assertEquals("native ops not loaded: no cuBLASLt autotuning", NativeOps.autotuneReport(),
                "no native call without the library");
    }

    @Test
    void theAttentionKernelsAreOnUnlessZeroAndOverridesRestoreThem() {
        // NativeOps.CROSS_ATTENTION_KERNEL's and SELF_ATTENTION_KERNEL's kind of switch: on by default, a setter of the
        // library's, unlinked where the library lacks it (its setter is its probe)
        NativeOps.Switch s = new NativeOps.Switch(NAME, handed::add, null, "cross-attention kernel",
                "cross-attentions run PyTorch's SDPA");
        s.load();
        assertTrue(s.active(), "unset: our kernel");
        System.setProperty(NAME, "0");
        s.load();
        assertFalse(s.on(), "0: SDPA");
        s.set(true); // the benchmark's A/B and the kernel self-check set it, and restore it
        assertTrue(s.active());
        s.set(null);
        assertFalse(s.on());
        assertEquals(List.of(true, false, true, false), handed);
        assertEquals("SD_CROSS_ATTENTION_KERNEL", NativeOps.CROSS_ATTENTION_KERNEL.name());
        assertEquals("SD_SELF_ATTENTION_KERNEL", NativeOps.SELF_ATTENTION_KERNEL.name());
        assertTrue(NativeOps.CROSS_ATTENTION_KERNEL.toString().startsWith("SD_CROSS_ATTENTION_KERNEL "));
    }
}
