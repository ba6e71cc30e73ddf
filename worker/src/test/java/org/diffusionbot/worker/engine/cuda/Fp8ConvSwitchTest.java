package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** When the UNet's ResNet blocks' FP8 convolutions are on ({@link NativeOps#fp8ConvOff()}), and why not otherwise. */
class Fp8ConvSwitchTest {
    @Test
    void onOnlyWithTheLibraryItsFunctionsTheSwitchAHopperGpuAndAnSm90aBuild() {
        AtomicInteger asked = new AtomicInteger();
        java.util.function.IntSupplier hopper = () -> {
            asked.incrementAndGet();
            return 90;
        };
        java.util.function.BooleanSupplier built = () -> {
            asked.incrementAndGet();
            return true;
        };
        assertEquals("native ops not in use", NativeOps.fp8ConvOff(false, true, true, hopper, built));
        assertEquals("the native library has no FP8 convolution functions: rebuild it",
                NativeOps.fp8ConvOff(true, false, true, hopper, built));
        assertEquals("SD_FP8_CONV=0", NativeOps.fp8ConvOff(true, true, false, hopper, built));
        assertEquals(0, asked.get(), "the device is asked only when everything else holds");
        assertNull(NativeOps.fp8ConvOff(true, true, true, hopper, built));
        assertEquals("compute capability 8.9, the FP8 convolution kernel needs 9.0 (Hopper)",
                NativeOps.fp8ConvOff(true, true, true, () -> 89, built), "Ada has FP8 but no wgmma");
        assertEquals("compute capability 12.0, the FP8 convolution kernel needs 9.0 (Hopper)",
                NativeOps.fp8ConvOff(true, true, true, () -> 120, built), "sm_90a code runs on 9.0 only");
        assertEquals("no CUDA device", NativeOps.fp8ConvOff(true, true, true, () -> -1, built));
        asked.set(0);
        assertEquals("compute capability 8.0, the FP8 convolution kernel needs 9.0 (Hopper)",
                NativeOps.fp8ConvOff(true, true, true, () -> 80, built));
        assertEquals(0, asked.get(), "the build is asked only on Hopper");
        assertEquals("the native library's FP8 convolution is not built for sm_90a",
                NativeOps.fp8ConvOff(true, true, true, hopper, () -> false));
    }

    @Test
    void theSwitchIsOnByDefaultAndWithoutTheLibraryNothingRuns() {
        assertEquals("SD_FP8_CONV", NativeOps.FP8_CONV.name());
        assertTrue(NativeOps.FP8_CONV.on(), "default on (SD_FP8_CONV unset in the tests)");
        if (NativeOps.available()) {
            return;
        }
        try {
            NativeOps.FP8_CONV.set(true);
            assertFalse(NativeOps.FP8_CONV.linked());
            assertEquals("native ops not in use", NativeOps.fp8ConvOff());
            assertEquals("native ops not in use", NativeOps.fp8ConvUnsupported());
            assertFalse(NativeOps.fp8Conv());
        } finally {
            NativeOps.FP8_CONV.set(null);
        }
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = m.zeros(new Shape(2, 320, 8, 8), DataType.FLOAT16);
            assertFalse(NativeOps.fp8ResnetFits(x, null, 32, 320), "a CPU tensor never asks the library");
        }
    }
}
