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
 * channels-last), then on a GPU the kernels' self-check ({@link KernelSelfCheck#QUICK}) and 2-step runs of a tiny
 * model ({@link TinyModel}, two seeds in one batch, each run twice: the second replays the CUDA graphs) in fp16 on the
 * GPU as the worker runs it, compared in two steps ({@link ImageDiff}):
 * <ol>
 *   <li>with every FP8 path off ({@link StableDiffusionPipeline#setFp8}) against fp32 on the CPU, within {@link
 *       ImageDiff#FP16_ROUNDING}: the fp16 kernels, CUDA graphs and batching;
 *   <li>with the FP8 paths as configured ({@code SD_FP8_*}, the worker's defaults) against run 1, within {@link
 *       ImageDiff#FP8_ROUNDING}: the deliberate e4m3 approximation is sane; skipped (the output says so) where no FP8
 *       path is on ({@link NativeOps#fp8Off()}: an older GPU, a switch at 0, the plain DJL path).
 * </ol>
 * Without a GPU only the CPU run. The last line is the verdict: {@code doctor: OK …}, {@code doctor: no GPU …} or
 * {@code doctor: …what to change} ({@link #advice}: kernels, then the fp16 comparison, then the FP8 one, whose advice
 * names the FP8 switches that are on, to set to 0: {@link NativeOps#fp8Workaround()}).
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
                    + "SD_CHANNELS_LAST, " + String.join(", ", NativeOps.FP8_PATHS.stream().map(f -> f.toggle().name())
                    .toList()) + ")");
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
            List<RgbImage> cpu;
            try (StableDiffusionPipeline p = load(model, DataType.FLOAT32, Device.cpu(), options)) {
                cpu = generate(p, 1);
            }
            NativeOps.setEnabled(true);
            out.printf(Locale.ROOT, "  tiny model, 2 steps, 2 images on the CPU (fp32): %.1f s%n", (System.nanoTime() - t0) / 1e9);
            if (!setup.gpuUsable()) {
                return verdict(out, setup.driverGpus() == 0 ? NO_GPU : PROBLEM, setup.advice());
            }
            Device gpu = Device.gpu();
            boolean kernels = KernelSelfCheck.QUICK.run(gpu, out);
            List<RgbImage> twiceCpu = new ArrayList<>(cpu);
            twiceCpu.addAll(cpu);
            ImageDiff fp16;
            ImageDiff fp8 = null;
            try (StableDiffusionPipeline p = load(model, DataType.FLOAT16, gpu, options)) {
                try {
                    // 1. every FP8 path off: the fp16 kernels, graphs and batching against fp32 on the CPU
                    p.setFp8(false);
                    List<RgbImage> off = generate(p, 2);
                    fp16 = ImageDiff.worst(twiceCpu, off);
                    out.println(compared("CUDA fp16 " + (setup.fastPath() ? "(fast path)" : "(plain DJL)")
                            + " with FP8 off vs CPU fp32", fp16, ImageDiff.FP16_ROUNDING));
                    // 2. the FP8 paths as configured against 1's images
                    boolean companions = p.setFp8(null);
                    String why = NativeOps.fp8Off();
                    if (why != null || !companions) {
                        out.println("  tiny model, FP8 paths as configured vs off: skipped (" + (why != null ? "no FP8 path on: "
                                + why : "no block of the tiny model fits an FP8 path") + ")");
                    } else {
                        fp8 = ImageDiff.worst(off, generate(p, 2));
                        out.println(compared("CUDA fp16 with FP8 (" + String.join(", ", NativeOps.fp8PathsOn())
                                + ") vs FP8 off", fp8, ImageDiff.FP8_ROUNDING));
                    }
                } finally {
                    p.setFp8(null);
                }
            }
            String advice = advice(kernels, setup.gpus().get(0).computeCapability(), fp16, fp8, setup.advice());
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

    /**
     * The verdict's line after the GPU checks, or null when all pass: the first failure in this order, else the setup's
     * advice.
     *
     * @param kernels whether {@link KernelSelfCheck#QUICK} passed
     * @param cc the GPU's compute capability, e.g. {@code 9.0}
     * @param fp16 the GPU run with every FP8 path off against the CPU's, judged by {@link ImageDiff#FP16_ROUNDING}
     * @param fp8 the GPU run with the FP8 paths as configured against the FP8-off run, judged by {@link
     *     ImageDiff#FP8_ROUNDING}; null where it was skipped (no FP8 path on)
     * @param setupAdvice {@link GpuSetup#advice()}: what to change in the setup, or null
     */
    static String advice(boolean kernels, String cc, ImageDiff fp16, ImageDiff fp8, String setupAdvice) {
        if (!kernels) {
            return "the native kernels disagree with PyTorch on this GPU (compute capability " + cc + "): rebuild "
                    + "libsd_native_ops.so with worker/src/main/native/build.sh and CUDA_ARCHS including " + cc;
        }
        if (!fp16.passes(ImageDiff.FP16_ROUNDING)) {
            return "the GPU's images (FP8 off) differ from the CPU's beyond fp16 rounding (" + fp16.describe(
                    ImageDiff.FP16_ROUNDING) + "): run `worker.jar bench --check` to see which path, and set "
                    + "SD_NATIVE_OPS= to work around it";
        }
        if (fp8 != null && !fp8.passes(ImageDiff.FP8_ROUNDING)) {
            return "the GPU's images with the FP8 paths on differ from those with them off beyond e4m3 rounding ("
                    + fp8.describe(ImageDiff.FP8_ROUNDING) + "): set " + NativeOps.fp8Workaround()
                    + " to work around it (the fp16 paths passed)";
        }
        return setupAdvice;
    }

    /** One comparison's line: {@code   tiny model, 2 steps, WHAT, 4 images: FIGURES -> PASS (BOUND)}. */
    static String compared(String what, ImageDiff d, ImageDiff.Bound bound) {
        return "  tiny model, 2 steps, " + what + ", 4 images: " + d.describe(bound) + " (" + bound + ")";
    }

    private static StableDiffusionPipeline load(Path model, DataType dtype, Device device, PipelineOptions options) {
        return ModelLoader.load(model, dtype, device, new ModelLoader.Options(null, null, null, options));
    }

    /** {@link #TINY_RUN} {@code times} times (the second replays the CUDA graphs the first one captured). */
    private static List<RgbImage> generate(StableDiffusionPipeline p, int times) {
        List<RgbImage> images = new ArrayList<>();
        for (int i = 0; i < times; i++) {
            images.addAll(ImageDiff.images(p.generate(List.of(TINY_RUN), PipelineCallbacks.NONE)));
        }
        return images;
    }

    private static int verdict(PrintStream out, int status, String line) {
        out.println("doctor: " + line);
        return status;
    }
}
