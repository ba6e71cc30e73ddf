package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The one line {@link GpuSetup#advice()} gives for each way a GPU machine can miss the fast path. */
class GpuSetupTest {
    private static final List<GpuSetup.Gpu> H200 = List.of(new GpuSetup.Gpu(0, "9.0", 150L << 30));
    private static final String CUDA_TORCH = "/opt/torch/lib";
    private static final String BUNDLED = "/home/w/.djl.ai/pytorch/2.7.1-cpu-linux-x86_64";

    private static GpuSetup setup(String dir, boolean fromPath, boolean cuda, int driverGpus, List<GpuSetup.Gpu> gpus,
            String nativeOps, boolean graphs) {
        return new GpuSetup("17", "0.35.1", dir, "2.7.1", fromPath, cuda, null, driverGpus, gpus, nativeOps, graphs, graphs,
                graphs, "SD_FP8_LINEARS=0", "SD_FP8_LINEARS=0", "SD_FP8_LINEARS=0", "SD_FP8_CONV=0");
    }

    @Test
    void theFastPathOnAGpuNeedsNothing() {
        GpuSetup ok = setup(CUDA_TORCH, true, true, 1, H200, null, true);
        assertNull(ok.advice());
        assertTrue(ok.fastPath());
        assertTrue(ok.lines().get(2).contains("cuda:0 compute capability 9.0, 150.0 GiB"), ok.lines().toString());
        assertEquals("CUDA graphs: UNet on, VAE decoder on; channels-last: on", ok.lines().get(4));
        assertEquals("native ops, CUDA graphs, channels-last", ok.fastPathParts());
        assertEquals("FP8 linears (transformer blocks; SD_FP8_LINEARS=0 turns them off): off (SD_FP8_LINEARS=0); ff.net.2"
                + " from the GEGLU gate's FP8 output (SD_FP8_FF_OUT=0 turns it off): off (SD_FP8_LINEARS=0); the GEGLU"
                + " intermediate as e4m3 (SD_FP8_GEGLU=1 turns it on): off (SD_FP8_LINEARS=0)", ok.lines().get(5));
        assertEquals("FP8 convolutions (the UNet's ResNet blocks, Hopper; SD_FP8_CONV=0 turns them off): off"
                + " (SD_FP8_CONV=0)", ok.lines().get(6));
    }

    @Test
    void theReportSaysEachPartsGraphsOnOrOffAndWhy() {
        GpuSetup vaeOff = new GpuSetup("17", "0.35.1", CUDA_TORCH, "2.7.1", true, true, null, 1, H200, null, true, false,
                true, null, null, null, null);
        assertEquals("CUDA graphs: UNet on, VAE decoder off (SD_VAE_GRAPHS=0); channels-last: on", vaeOff.lines().get(4));
        assertEquals("FP8 linears (transformer blocks; SD_FP8_LINEARS=0 turns them off): on; ff.net.2 from the GEGLU gate's"
                + " FP8 output (SD_FP8_FF_OUT=0 turns it off): on; the GEGLU intermediate as e4m3 (SD_FP8_GEGLU=1 turns"
                + " it on): on", vaeOff.lines().get(5));
        assertEquals("FP8 convolutions (the UNet's ResNet blocks, Hopper; SD_FP8_CONV=0 turns them off): on",
                vaeOff.lines().get(6));
        GpuSetup ffOutOff = new GpuSetup("17", "0.35.1", CUDA_TORCH, "2.7.1", true, true, null, 1, H200, null, true, true,
                true, null, "SD_FP8_FF_OUT=0", "SD_FP8_FF_OUT=0", null);
        assertEquals("FP8 linears (transformer blocks; SD_FP8_LINEARS=0 turns them off): on; ff.net.2 from the GEGLU gate's"
                + " FP8 output (SD_FP8_FF_OUT=0 turns it off): off (SD_FP8_FF_OUT=0); the GEGLU intermediate as e4m3"
                + " (SD_FP8_GEGLU=1 turns it on): off (SD_FP8_FF_OUT=0)", ffOutOff.lines().get(5));
        GpuSetup gegluOff = new GpuSetup("17", "0.35.1", CUDA_TORCH, "2.7.1", true, true, null, 1, H200, null, true, true,
                true, null, null, "SD_FP8_GEGLU not 1", null);
        assertTrue(gegluOff.lines().get(5).endsWith("; the GEGLU intermediate as e4m3 (SD_FP8_GEGLU=1 turns it on): off"
                + " (SD_FP8_GEGLU not 1)"), gegluOff.lines().get(5));
        assertNull(vaeOff.advice(), "the VAE decoder's graphs are no part of the fast path's advice");
        assertTrue(vaeOff.fastPath());
        assertEquals("native ops, the UNet's CUDA graphs, channels-last", vaeOff.fastPathParts());
        assertEquals("CUDA graphs: UNet off (SD_CUDA_GRAPHS=0), VAE decoder off (SD_CUDA_GRAPHS=0); channels-last: off",
                setup(CUDA_TORCH, true, true, 1, H200, null, false).lines().get(4));
        assertEquals("CUDA graphs: UNet off (native ops not loaded), VAE decoder off (native ops not loaded); "
                + "channels-last: off", setup(CUDA_TORCH, true, true, 1, H200, "SD_NATIVE_OPS is not set", false)
                .lines().get(4));
    }

    @Test
    void noDriverGpuIsNoGpu() {
        GpuSetup cpu = setup(BUNDLED, false, false, 0, List.of(), "SD_NATIVE_OPS is not set", false);
        assertTrue(cpu.advice().startsWith("no GPU: "), cpu.advice());
    }

    @Test
    void aGpuWithTheBundledCpuLibtorchNamesPytorchLibraryPath() {
        String a = setup(BUNDLED, false, false, 1, List.of(), "SD_NATIVE_OPS is not set", false).advice();
        assertTrue(a.startsWith("DJL loaded the CPU libtorch bundled in the jar (" + BUNDLED + "): set PYTORCH_LIBRARY_PATH")
                && a.contains("PYTORCH_VERSION=2.7.1 PYTORCH_FLAVOR=cu128"), a);
        String b = setup("/usr/lib/torch-cpu", true, false, 1, List.of(), null, false).advice();
        assertTrue(b.startsWith("PYTORCH_LIBRARY_PATH=/usr/lib/torch-cpu is a CPU-only libtorch"), b);
    }

    @Test
    void aCudaLibtorchWithoutTheRuntimeInTheLinkerCacheSaysHowToAddIt() {
        String a = setup(CUDA_TORCH, true, true, 2, List.of(), null, true).advice();
        assertTrue(a.startsWith("the driver shows 2 GPU(s) but DJL finds no CUDA device") && a.contains("ldconfig")
                && a.contains("-Djna.library.path"), a);
    }

    @Test
    void aGpuWithoutTheNativeLibraryOrGraphsNamesTheSetting() {
        String a = setup(CUDA_TORCH, true, true, 1, H200, "SD_NATIVE_OPS is not set", false).advice();
        assertTrue(a.startsWith("the fast path is off (SD_NATIVE_OPS is not set): build libsd_native_ops.so against "
                + CUDA_TORCH) && a.contains("set SD_NATIVE_OPS"), a);
        assertEquals("CUDA graphs are off (SD_CUDA_GRAPHS=0): unset it for the fast path",
                setup(CUDA_TORCH, true, true, 1, H200, null, false).advice());
    }

    @Test
    void aLibtorchThatDoesNotLoadIsReportedWithItsError() {
        GpuSetup broken = new GpuSetup("17", "0.35.1", null, null, false, false, "EngineException: no JNI", 1, List.of(),
                "libtorch did not load", false, false, false, "native ops not loaded", "native ops not loaded",
                "native ops not loaded", "native ops not loaded");
        assertTrue(broken.advice().startsWith("DJL could not load libtorch (EngineException: no JNI): set "
                + "PYTORCH_LIBRARY_PATH"), broken.advice());
        assertTrue(broken.lines().get(1).equals("libtorch: NOT loaded (EngineException: no JNI)"), broken.lines().toString());
    }
}
