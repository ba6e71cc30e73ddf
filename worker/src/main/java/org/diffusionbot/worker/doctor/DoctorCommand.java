package org.diffusionbot.worker.doctor;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.cuda.GpuSetup;
import org.diffusionbot.worker.engine.cuda.KernelSelfCheck;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.GenerationRequest;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.PipelineOptions;
import org.diffusionbot.worker.engine.pipeline.RgbImage;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;

/**
 * {@code worker.jar doctor}: whether this machine runs the worker on a GPU with the fast path, and if not, the one
 * thing to change. Prints {@link GpuSetup} (Java, DJL, which libtorch from where, CUDA devices and compute
 * capability, native ops loaded or why not, the UNet's and the VAE decoder's CUDA graphs on or off and why,
 * channels-last), then on a GPU the kernels' self-check ({@link KernelSelfCheck#QUICK}) and a 2-step run of a tiny
 * model ({@link TinyModel}) in fp16 on the GPU, as the worker runs it, against fp32 on the CPU ({@link ImageDiff});
 * without a GPU only the CPU run. The last line is the verdict: {@code doctor: OK …}, {@code doctor: no GPU …} or
 * {@code doctor: …what to change}.
 *
 * <p>Exit status: {@value #OK} the GPU runs with the fast path and every check passes; {@value #PROBLEM} something
 * to change (the last line says what); {@value #NO_GPU} no GPU on this machine (the worker would run on the CPU).
 */
public final class DoctorCommand {
    /** Exit status: GPU with the fast path, all checks pass. */
    public static final int OK = 0;
    /** Exit status: something to change; the last line says what. */
    public static final int PROBLEM = 1;
    /** Exit status: no GPU here (no NVIDIA driver device). */
    public static final int NO_GPU = 3;

    /** 64x64, 2 steps, guidance as users run it; two seeds, so batching is part of the check. */
    private static final GenerationRequest TINY_RUN = new GenerationRequest("a red cube on a blue floor", "blurry",
            List.of(1L, 2L), 7.5, GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP, 64, 64, 2, Sampler.DPMPP_2M_KARRAS, null, null);

    private DoctorCommand() {
    }

    public static int run(String[] args, PrintStream out) throws IOException {
        if (args.length > 0) {
            out.println("doctor: takes no arguments (it reads the worker's environment: PYTORCH_LIBRARY_PATH, "
                    + "PYTORCH_VERSION, PYTORCH_FLAVOR, SD_NATIVE_OPS, SD_CUDA_GRAPHS, SD_VAE_GRAPHS, "
                    + "SD_CHANNELS_LAST)");
            return 2;
        }
        // read once, as the worker does: the tiny model loads with them and the report says them
        PipelineOptions options = PipelineOptions.fromSettings();
        GpuSetup setup = GpuSetup.probe(options.cudaGraphs(), options.vaeGraphs(), options.channelsLast());
        out.println("== worker doctor");
        setup.lines().forEach(l -> out.println("  " + l));
        if (setup.engineError() != null) {
            return verdict(out, PROBLEM, setup.advice());
        }
        Path dir = Files.createTempDirectory("sd-doctor");
        try {
            Path model = TinyModel.write(dir.resolve("tiny-sd15"), 0);
            NativeOps.setEnabled(false);
            long t0 = System.nanoTime();
            List<RgbImage> cpu = generate(model, DataType.FLOAT32, Device.cpu(), 1, options);
            NativeOps.setEnabled(true);
            out.printf(Locale.ROOT, "  tiny model, 2 steps, 2 images on the CPU (fp32): %.1f s%n", (System.nanoTime() - t0) / 1e9);
            if (!setup.gpuUsable()) {
                return verdict(out, setup.driverGpus() == 0 ? NO_GPU : PROBLEM, setup.advice());
            }
            Device gpu = Device.gpu();
            boolean kernels = KernelSelfCheck.QUICK.run(gpu, out);
            // twice: the second run replays the CUDA graphs the first one captured
            List<RgbImage> onGpu = generate(model, DataType.FLOAT16, gpu, 2, options);
            List<RgbImage> twiceCpu = new ArrayList<>(cpu);
            twiceCpu.addAll(cpu);
            ImageDiff diff = ImageDiff.worst(twiceCpu, onGpu);
            out.println("  tiny model, 2 steps, CUDA fp16 " + (setup.fastPath() ? "(fast path)" : "(plain DJL)")
                    + " vs CPU fp32, 4 images: " + diff);
            String cc = setup.gpus().get(0).computeCapability();
            String advice = !kernels
                    ? "the native kernels disagree with PyTorch on this GPU (compute capability " + cc + "): rebuild "
                            + "libsd_native_ops.so with worker/src/main/native/build.sh and CUDA_ARCHS including " + cc
                    : !diff.passes()
                            ? "the GPU's images differ from the CPU's beyond fp16 rounding (" + diff + "): run "
                                    + "`worker.jar bench --check` to see which path, and set SD_NATIVE_OPS= to work around it"
                            : setup.advice();
            return advice == null ? verdict(out, OK, "OK: GPU with the fast path (" + setup.fastPathParts() + ")")
                    : verdict(out, PROBLEM, advice);
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private static List<RgbImage> generate(Path model, DataType dtype, Device device, int times,
            PipelineOptions options) {
        List<RgbImage> images = new ArrayList<>();
        try (StableDiffusionPipeline p = ModelLoader.load(model, dtype, device,
                new ModelLoader.Options(null, null, null, options))) {
            for (int i = 0; i < times; i++) {
                images.addAll(ImageDiff.images(p.generate(List.of(TINY_RUN), PipelineCallbacks.NONE)));
            }
        }
        return images;
    }

    private static int verdict(PrintStream out, int status, String line) {
        out.println("doctor: " + line);
        return status;
    }
}
