package org.diffusionbot.worker.engine.cuda;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.engine.StandardCapabilities;
import ai.djl.pytorch.jni.LibUtils;
import ai.djl.util.cuda.CudaUtils;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What the worker runs on, as DJL 0.35.1 and the native library found it: Java, DJL, which libtorch was loaded
 * from where, the GPUs the driver shows and those DJL can use (with compute capability and memory), whether the
 * fast path (native ops, the UNet's and the VAE decoder's CUDA graphs, channels-last; docs/GPU.md) is on, and, when
 * something is off, the one thing to change. {@code worker.jar doctor} prints it, the worker logs it at start, and
 * {@code ComputeDevice} puts its advice into the {@code DEVICE=gpu} error.
 *
 * <p>How DJL chooses (its {@code LibUtils}): {@code PYTORCH_LIBRARY_PATH} (with {@code PYTORCH_VERSION} and
 * {@code PYTORCH_FLAVOR}), else a bundled native jar (the worker's jar bundles DJL's CPU libtorch), else a download.
 * DJL counts GPUs only when libtorch has CUDA and CUDA's runtime ({@code libcudart}) answers through JNA, which
 * finds it in the linker cache or {@code jna.library.path}, not {@code LD_LIBRARY_PATH}.
 *
 * @param java           Java version and vendor
 * @param djl            DJL's version
 * @param libtorchDir    the folder DJL loaded libtorch from, or null when loading failed
 * @param libtorchVersion libtorch's version as DJL reports it, or null
 * @param fromLibraryPath whether that libtorch came from {@code PYTORCH_LIBRARY_PATH} (else DJL's bundled or
 *                       downloaded copy in its cache)
 * @param libtorchCuda   whether that libtorch is a CUDA build ({@code libtorch_cuda.so} beside it)
 * @param engineError    why DJL could not load libtorch, or null
 * @param driverGpus     GPUs the NVIDIA driver shows ({@code /proc/driver/nvidia/gpus}), whatever the libraries
 * @param gpus           the CUDA devices DJL can use (empty without CUDA libtorch and runtime)
 * @param nativeOps      null when {@code libsd_native_ops.so} is loaded, else why not
 * @param cudaGraphs     whether the UNet runs through CUDA graphs (native ops on and {@code SD_CUDA_GRAPHS} not 0)
 * @param vaeGraphs      whether the VAE decoder runs through CUDA graphs (those of the UNet on and {@code
 *                       SD_VAE_GRAPHS} not 0)
 * @param channelsLast   whether the UNet and VAE run channels-last ({@code SD_CHANNELS_LAST} not 0, native ops on)
 * @param fp8LinearsOff  null when the transformer blocks' linears after a LayerNorm run as FP8 products ({@code
 *                       SD_FP8_LINEARS} not 0, docs/GPU.md), else why not ({@link NativeOps#fp8LinearsOff()})
 * @param fp8FfOutOff    null when their feed-forward's ff.net.2 runs as an FP8 product of the GEGLU gate's FP8 output
 *                       too ({@code SD_FP8_FF_OUT} not 0), else why not ({@link NativeOps#fp8FfOutOff()}: FP8 linears'
 *                       reason where they are off)
 * @param fp8GegluOff    null when their GEGLU intermediate is written as e4m3 too ({@code SD_FP8_GEGLU=1}; off by
 *                       default), else why
 *                       not ({@link NativeOps#fp8GegluOff()}: ff.net.2's reason where it is not FP8)
 * @param fp8ConvOff     null when the UNet's ResNet blocks' 3x3 convolutions run as FP8 products of their GroupNorms'
 *                       e4m3 output ({@code SD_FP8_CONV} not 0, Hopper), else why not ({@link NativeOps#fp8ConvOff()})
 */
public record GpuSetup(String java, String djl, String libtorchDir, String libtorchVersion, boolean fromLibraryPath,
        boolean libtorchCuda, String engineError, int driverGpus, List<Gpu> gpus, String nativeOps, boolean cudaGraphs,
        boolean vaeGraphs, boolean channelsLast, String fp8LinearsOff, String fp8FfOutOff, String fp8GegluOff,
        String fp8ConvOff) {

    /** One CUDA device: its index, compute capability ("9.0") and memory in bytes. */
    public record Gpu(int index, String computeCapability, long memoryBytes) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "cuda:%d compute capability %s, %.1f GiB", index, computeCapability,
                    memoryBytes / (double) (1L << 30));
        }
    }

    /**
     * What the worker would report on this machine now (loads libtorch and the native library if not yet).
     *
     * @param cudaGraphs whether its pipelines are loaded with CUDA graphs wanted ({@code PipelineOptions#cudaGraphs},
     *     read once at load: {@code SD_CUDA_GRAPHS} not 0); on in the report only with the native library loaded
     * @param vaeGraphs whether the VAE decoder's are wanted too ({@code PipelineOptions#vaeGraphs}: {@code
     *     SD_VAE_GRAPHS} not 0); on in the report only with the UNet's
     * @param channelsLast whether they are loaded channels-last ({@code PipelineOptions#channelsLast}: {@code
     *     SD_CHANNELS_LAST} not 0); likewise only with the library
     */
    public static GpuSetup probe(boolean cudaGraphs, boolean vaeGraphs, boolean channelsLast) {
        String java = System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ")";
        String djl = Engine.getDjlVersion();
        boolean fromPath = EngineSettings.value("PYTORCH_LIBRARY_PATH") != null;
        int driverGpus = countDriverGpus();
        String dir = null;
        String version = null;
        String error = null;
        boolean cudaBuild = false;
        List<Gpu> gpus = new ArrayList<>();
        try {
            Engine engine = Engine.getEngine("PyTorch");
            dir = LibUtils.getLibtorchPath();
            version = engine.getVersion();
            cudaBuild = Files.exists(Path.of(dir, "libtorch_cuda.so"));
            if (engine.hasCapability(StandardCapabilities.CUDA)) {
                for (int i = 0; i < engine.getGpuCount(); i++) {
                    String cc = CudaUtils.getComputeCapability(i); // "90"
                    if (!cc.contains(".") && cc.length() >= 2) {
                        cc = cc.substring(0, cc.length() - 1) + "." + cc.charAt(cc.length() - 1);
                    }
                    gpus.add(new Gpu(i, cc, CudaUtils.getGpuMemory(Device.gpu(i)).getMax()));
                }
            }
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            error = e.getCause() == null ? e.toString() : e + " (" + e.getCause() + ")";
        }
        boolean loaded = error == null && NativeOps.available();
        String nativeOps = error != null ? "libtorch did not load" : loaded ? null : NativeOps.unavailableReason();
        return new GpuSetup(java, djl, dir, version, fromPath, cudaBuild, error, driverGpus, List.copyOf(gpus), nativeOps,
                loaded && cudaGraphs, loaded && cudaGraphs && vaeGraphs, loaded && channelsLast,
                loaded ? NativeOps.fp8LinearsOff() : "native ops not loaded",
                loaded ? NativeOps.fp8FfOutOff() : "native ops not loaded",
                loaded ? NativeOps.fp8GegluOff() : "native ops not loaded",
                loaded ? NativeOps.fp8ConvOff() : "native ops not loaded");
    }

    /** GPUs the kernel driver lists, 0 without an NVIDIA driver (or in a container given no GPU). */
    private static int countDriverGpus() {
        File[] entries = new File("/proc/driver/nvidia/gpus").listFiles();
        return entries == null ? 0 : entries.length;
    }

    /** Whether the worker can run on a GPU (whatever its speed). */
    public boolean gpuUsable() {
        return !gpus.isEmpty();
    }

    /** Whether it runs on a GPU with the fast path: native ops loaded and CUDA graphs on. */
    public boolean fastPath() {
        return gpuUsable() && nativeOps == null && cudaGraphs;
    }

    /**
     * The one thing to change, in one line, or null when the GPU runs with the fast path. A machine without any
     * GPU gets a line starting with "no GPU".
     */
    public String advice() {
        if (engineError != null) {
            if (!fromLibraryPath) {
                return "DJL could not load libtorch (" + engineError + "): set PYTORCH_LIBRARY_PATH to a CUDA libtorch "
                        + "2.7.1's lib folder with PYTORCH_VERSION=2.7.1 PYTORCH_FLAVOR=cu128 (a worker.jar built with "
                        + "-Dcuda bundles no libtorch)";
            }
            String set = EngineSettings.value("PYTORCH_VERSION") == null || EngineSettings.value("PYTORCH_FLAVOR") == null
                    ? " (with PYTORCH_LIBRARY_PATH, set PYTORCH_VERSION and PYTORCH_FLAVOR too: 2.7.1 and cu128 for pip's "
                            + "torch 2.7.1+cu128)" : "";
            return "DJL could not load libtorch from PYTORCH_LIBRARY_PATH=" + EngineSettings.value("PYTORCH_LIBRARY_PATH")
                    + ": " + engineError + set;
        }
        if (gpus.isEmpty() && driverGpus == 0) {
            return "no GPU: the NVIDIA driver shows no GPU here (with DEVICE=auto the worker runs on the CPU; in a "
                    + "container, give it the GPU: NVIDIA Container Toolkit and compose's deploy.resources.reservations"
                    + ".devices)";
        }
        if (!libtorchCuda) {
            return fromLibraryPath
                    ? "PYTORCH_LIBRARY_PATH=" + libtorchDir + " is a CPU-only libtorch: point it at a CUDA libtorch 2.7.1's "
                            + "lib folder (pip's torch 2.7.1+cu128), with PYTORCH_VERSION=2.7.1 PYTORCH_FLAVOR=cu128"
                    : "DJL loaded the CPU libtorch bundled in the jar (" + libtorchDir + "): set PYTORCH_LIBRARY_PATH to a "
                            + "CUDA libtorch 2.7.1's lib folder (pip's torch 2.7.1+cu128: .../site-packages/torch/lib) with "
                            + "PYTORCH_VERSION=2.7.1 PYTORCH_FLAVOR=cu128 (scripts/setup-cuda.sh does it)";
        }
        if (gpus.isEmpty()) {
            return "the driver shows " + driverGpus + " GPU(s) but DJL finds no CUDA device: DJL reaches CUDA's runtime "
                    + "(libcudart) through the linker cache, so add the folder of libcudart.so.* to /etc/ld.so.conf.d and "
                    + "run ldconfig, or start java with -Djna.library.path=that folder; if it is found, the driver may be "
                    + "too old for libtorch " + libtorchVersion;
        }
        if (nativeOps != null) {
            return "the fast path is off (" + nativeOps + "): build libsd_native_ops.so against " + libtorchDir
                    + " with worker/src/main/native/build.sh and set SD_NATIVE_OPS to it (plain DJL operations are about "
                    + "4x slower per UNet call)";
        }
        if (!cudaGraphs) {
            return "CUDA graphs are off (SD_CUDA_GRAPHS=0): unset it for the fast path";
        }
        return null;
    }

    /** The report, one fact a line. */
    public List<String> lines() {
        List<String> out = new ArrayList<>();
        out.add("Java " + java + ", DJL " + djl);
        out.add(engineError != null ? "libtorch: NOT loaded (" + engineError + ")"
                : "libtorch " + libtorchVersion + " (" + (libtorchCuda ? "CUDA" : "CPU only") + ") from " + libtorchDir
                        + (fromLibraryPath ? " (PYTORCH_LIBRARY_PATH)" : " (DJL's bundled copy)"));
        out.add("GPUs: driver shows " + driverGpus + "; DJL can use " + gpus.size()
                + (gpus.isEmpty() ? "" : ": " + String.join("; ", gpus.stream().map(Gpu::toString).toList())));
        out.add("native ops: " + (nativeOps == null ? "loaded from " + EngineSettings.value("SD_NATIVE_OPS")
                : "not loaded (" + nativeOps + ")"));
        String unetOff = nativeOps != null ? "native ops not loaded" : !cudaGraphs ? "SD_CUDA_GRAPHS=0" : null;
        String vaeOff = unetOff != null ? unetOff : !vaeGraphs ? "SD_VAE_GRAPHS=0" : null;
        out.add("CUDA graphs: UNet " + onOff(unetOff) + ", VAE decoder " + onOff(vaeOff) + "; channels-last: "
                + (channelsLast ? "on" : "off"));
        out.add("FP8 linears (transformer blocks; SD_FP8_LINEARS=0 turns them off): " + onOff(fp8LinearsOff)
                + "; ff.net.2 from the GEGLU gate's FP8 output (SD_FP8_FF_OUT=0 turns it off): " + onOff(fp8FfOutOff)
                + "; the GEGLU intermediate as e4m3 (SD_FP8_GEGLU=1 turns it on): " + onOff(fp8GegluOff));
        out.add("FP8 convolutions (the UNet's ResNet blocks, Hopper; SD_FP8_CONV=0 turns them off): " + onOff(fp8ConvOff));
        return out;
    }

    /** "on" for no reason to be off, else "off (why)". */
    private static String onOff(String whyOff) {
        return whyOff == null ? "on" : "off (" + whyOff + ")";
    }

    /**
     * What of the fast path is on, for the verdict of a machine that runs it: "native ops, CUDA graphs" (", the
     * UNet's CUDA graphs" where {@code SD_VAE_GRAPHS=0} left the VAE decoder's off), then ", channels-last" where on.
     */
    public String fastPathParts() {
        return "native ops, " + (vaeGraphs ? "CUDA graphs" : "the UNet's CUDA graphs")
                + (channelsLast ? ", channels-last" : "");
    }

    @Override
    public String toString() {
        return String.join(System.lineSeparator(), lines());
    }
}
