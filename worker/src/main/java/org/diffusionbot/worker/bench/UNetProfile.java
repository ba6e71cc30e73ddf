package org.diffusionbot.worker.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.diffusionbot.worker.engine.cuda.CudaGraphUNet;
import org.diffusionbot.worker.engine.cuda.KernelProfiler;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.models.UNetConfig;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;

/**
 * {@code worker.jar bench --model DIR --profile OUT_DIR}: a kernel profile of our UNet (issue 17). For batch 2
 * and 16 (SD 1.5: 64x64 latents; SDXL: 128x128 with its added conditioning, as {@link UNetInputs}), in
 * float16 on CUDA, eager with the native ops (CUDA graphs off: kernels replayed inside a graph are not
 * attributed to ops), it runs 2 warm-up calls, times 5 unprofiled calls, then records {@value #CALLS} calls
 * with {@link KernelProfiler}, each inside a {@code unet_call} range that ends after the device is
 * synchronised, into {@code OUT_DIR/unet_<sd15|sdxl>_b<batch>.json} (Chrome traces, a few MB to a few tens of
 * MB each). {@code scripts/gpu/profile_table.py} reads them.
 */
final class UNetProfile {
    static final int[] BATCHES = {2, 16};
    static final int CALLS = 3;

    private UNetProfile() {
    }

    /**
     * @param model the model folder ({@code --model}), or null
     * @return the exit status: 0, or 2 (with one line saying why) without a model, without the native library
     *     (which holds the profiler) or without a CUDA device
     */
    static int run(Path model, Path outDir, PrintStream out) throws IOException {
        if (model == null) {
            out.println("bench: --profile needs --model DIR (the model whose UNet to profile)");
            return 2;
        }
        if (!NativeOps.available()) {
            out.println("bench: --profile needs the native library (the profiler is in it): "
                    + NativeOps.unavailableReason());
            return 2;
        }
        if (ai.djl.engine.Engine.getInstance().getGpuCount() == 0) {
            out.println("bench: --profile: no CUDA device");
            return 2;
        }
        Device gpu = Device.gpu();
        Files.createDirectories(outDir);
        String name = SdxlBench.isSdxl(model) ? "sdxl" : "sd15";
        int latent = name.equals("sdxl") ? 128 : 64;
        try (StableDiffusionPipeline p = ModelLoader.load(model, DataType.FLOAT16, gpu)) {
            CudaGraphUNet unet = p.unetRunner();
            unet.setEnabled(false);
            UNetConfig config = p.models().unet().config();
            for (int b : BATCHES) {
                double eager = GpuBench.unetCallMs(unet, config, b, latent, 5);
                Path trace = outDir.resolve("unet_" + name + "_b" + b + ".json");
                try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
                    UNetInputs in = UNetInputs.random(m, config, b, latent);
                    KernelProfiler.start();
                    try {
                        for (int i = 0; i < CALLS; i++) {
                            try (KernelProfiler.Range r = KernelProfiler.range("unet_call");
                                    NDManager s = m.newSubManager()) {
                                unet.forward(s, in.sample(), in.timestep(), in.cond());
                                NativeOps.sync();
                            }
                        }
                    } finally {
                        KernelProfiler.stop(trace);
                    }
                }
                out.printf(Locale.ROOT, "profile %s batch %d: %.2f ms per eager call unprofiled; %d calls -> %s (%.1f MB)%n",
                        name, b, eager, CALLS, trace, Files.size(trace) / 1e6);
            }
        }
        NativeOps.releaseCache();
        return 0;
    }
}
