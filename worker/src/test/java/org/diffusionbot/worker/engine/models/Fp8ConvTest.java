package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiPredicate;
import java.util.function.BooleanSupplier;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;

/**
 * The FP8 convolutions' CPU-testable parts ({@link Fp8Conv}, {@code SD_FP8_CONV}): which convolutions get companions,
 * the static input scale, and that the CPU's UNet has none, so its ResNet blocks run the fp16 path unchanged (their
 * FP8 path and the kernels are checked on the GPU by {@code KernelSelfCheck}'s fp8Conv cases).
 */
class Fp8ConvTest {
    @Test
    void companionsOnlyForFp16ChannelsLastModelsOnCudaWithFp8ConvolutionsOnAndChannelsTheKernelTakes() {
        AtomicInteger asked = new AtomicInteger();
        BooleanSupplier on = () -> asked.incrementAndGet() > 0;
        BiPredicate<Long, Long> kernel = (c, k) -> {
            asked.incrementAndGet();
            return c % 64 == 0 && k % 160 == 0;
        };
        assertTrue(Fp8Conv.fits(DataType.FLOAT16, Device.gpu(), true, 320, 320, on, kernel));
        assertTrue(Fp8Conv.fits(DataType.FLOAT16, Device.gpu(), true, 2560, 1280, on, kernel));
        assertFalse(Fp8Conv.fits(DataType.FLOAT16, Device.gpu(), true, 96, 32, on, kernel), "the tiny UNet's channels");
        assertFalse(Fp8Conv.fits(DataType.FLOAT16, Device.gpu(), true, 320, 320, () -> false, kernel), "switched off");
        asked.set(0);
        assertFalse(Fp8Conv.fits(DataType.FLOAT16, Device.cpu(), true, 320, 320, on, kernel), "CPU");
        assertFalse(Fp8Conv.fits(DataType.FLOAT32, Device.gpu(), true, 320, 320, on, kernel), "float32 (SDXL's VAE)");
        assertFalse(Fp8Conv.fits(DataType.FLOAT16, Device.gpu(), false, 320, 320, on, kernel),
                "NCHW weights (SD_CHANNELS_LAST=0)");
        assertEquals(0, asked.get(), "the library is asked only when the rest holds (a CPU or NCHW model never asks it)");
        // as it runs: NCHW weights never get companions, whatever the library says
        assertFalse(Fp8Conv.fits(DataType.FLOAT16, Device.gpu(), false, 320, 320), "NCHW weights");
    }

    /** Without the native library FP8 convolutions are off whatever SD_FP8_CONV says: nothing fits. */
    @Test
    void withoutTheLibraryNothingFits() {
        assumeFalse(NativeOps.available(), "the native library is loaded");
        assertFalse(NativeOps.fp8Conv());
        assertFalse(Fp8Conv.fits(DataType.FLOAT16, Device.gpu(), true, 320, 320), "without the library");
    }

    @Test
    void theInputScaleIsOneAPowerOfTwo() {
        assertEquals(1.0, Fp8Conv.INPUT_SCALE);
        assertEquals(0, Math.getExponent(Fp8Conv.INPUT_SCALE));
    }

    @Test
    void theCpuUnetHasNoFp8ConvolutionsAndItsBlocksTakeTheFp16Path() {
        if (NativeOps.available()) {
            return;
        }
        try (StableDiffusionPipeline p = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu())) {
            assertFalse(p.models().unet().prepareFp8Convs(), "no companions on the CPU");
            p.models().unet().refreshFp8(); // nothing to refresh: no native call
        }
    }
}
