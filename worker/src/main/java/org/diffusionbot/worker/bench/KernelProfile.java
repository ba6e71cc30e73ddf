package org.diffusionbot.worker.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.diffusionbot.worker.engine.cuda.CudaGraphUNet;
import org.diffusionbot.worker.engine.cuda.KernelProfiler;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.models.AutoencoderKL;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.runtime.DiffusionGenerator;

/**
 * {@code worker.jar bench --model DIR --profile OUT_DIR}: kernel profiles (issue 17) with {@link KernelProfiler},
 * as Chrome traces in {@code OUT_DIR} (a few MB to a few tens of MB each) that {@code scripts/gpu/profile_table.py}
 * reads. The model loads in float16 on CUDA; {@code NAME} is {@code sd15} or {@code sdxl}.
 *
 * <ol>
 *   <li>The UNet: for batch 2 and 16 (SD 1.5: 64x64 latents; SDXL: 128x128 with its added conditioning, as
 *       {@link UNetInputs}), eager with the native ops (CUDA graphs off: kernels replayed inside a graph are not
 *       attributed to ops), 2 warm-up calls, 5 unprofiled calls timed, then {@value #CALLS} calls recorded, each
 *       inside a {@code unet_call} range that ends after the device is synchronised:
 *       {@code unet_NAME_b<batch>.json}.
 *   <li>Whole images, with CUDA graphs as the pipeline runs them (kernels of a replayed graph appear, unattributed
 *       to ops), through the bench's batching path ({@link GpuBench#runJobs}: the bench's size, steps and sampler),
 *       each after one unprofiled warm-up run of the same batch, inside one range {@code image} around the whole
 *       run (it ends when the images are on the host), the pipeline's own ranges inside ({@code text},
 *       {@code latents}, {@code denoise} with {@code step} and {@code preview}, {@code decode}):
 *       {@code image_NAME_1.json} (one image, previews every 5 steps requested as the bench's preview row does) and,
 *       for SD 1.5, {@code image_sd15_8.json} (8 jobs taken as one batch, no previews).
 *   <li>The VAE: {@value #CALLS} decodes of one image's random latents in the VAE's dtype (the pipeline's decode
 *       dtype: float32 for SDXL's force_upcast VAE) after one warm-up, each in a {@code vae_decode} range that ends
 *       after a device synchronisation: {@code vae_NAME.json}.
 * </ol>
 */
final class KernelProfile {
    static final int[] BATCHES = {2, 16};
    static final int CALLS = 3;

    private KernelProfile() {
    }

    /**
     * @param model the model folder ({@code --model}), or null
     * @return the exit status: 0, or 2 (with one line saying why) without a model, without the native library
     *     (which holds the profiler) or without a CUDA device
     */
    static int run(Path model, Path outDir, PrintStream out) throws IOException {
        if (model == null) {
            out.println("bench: --profile needs --model DIR (the model to profile)");
            return 2;
        }
        String missing = GpuBench.nativeGpuMissing("--profile", "the profiler is in it");
        if (missing != null) {
            out.println(missing);
            return 2;
        }
        Device gpu = Device.gpu();
        Files.createDirectories(outDir);
        boolean sdxl = SdxlBench.isSdxl(model);
        String name = sdxl ? "sdxl" : "sd15";
        int latent = sdxl ? 128 : 64;
        try (StableDiffusionPipeline p = ModelLoader.load(model, DataType.FLOAT16, gpu)) {
            CudaGraphUNet unet = p.unetRunner();
            boolean graphs = unet.enabled();
            unet.setEnabled(false);
            for (int b : BATCHES) {
                double eager = GpuBench.unetCallMs(p, b, latent, 5);
                Path trace = outDir.resolve("unet_" + name + "_b" + b + ".json");
                try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
                    UNetInputs in = UNetInputs.of(m, p, b, latent);
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
            unet.setEnabled(graphs); // whole images as the pipeline runs them
            NativeOps.releaseCache();
            images(p, sdxl ? SdxlBench.SDXL : GpuBench.SD15, name, sdxl ? new int[] {1} : new int[] {1, 8}, outDir, out);
            vae(p.models().vae(), p.models().unet().config().inChannels(), latent, name, outDir, out);
        }
        NativeOps.releaseCache();
        return 0;
    }

    /** One trace per count: that many jobs in one run (previews every 5 steps for one job), in an "image" range. */
    private static void images(StableDiffusionPipeline p, GpuBench.Setup setup, String name, int[] counts, Path outDir,
            PrintStream out) throws IOException {
        DiffusionGenerator gen = new DiffusionGenerator(p, PipelineCallbacks.PreviewMode.LATENT_RGB_X2, false);
        for (int n : counts) {
            int previewEvery = n == 1 ? 5 : 0;
            double warm = GpuBench.runJobs(gen, setup, n, previewEvery, null, 7); // captures this batch's graph
            Path trace = outDir.resolve("image_" + name + "_" + n + ".json");
            double secs;
            KernelProfiler.start();
            try {
                try (KernelProfiler.Range r = KernelProfiler.range("image")) {
                    secs = GpuBench.runJobs(gen, setup, n, previewEvery, null, 7);
                    NativeOps.sync();
                }
            } finally {
                KernelProfiler.stop(trace);
            }
            out.printf(Locale.ROOT, "profile %s %d image(s)%s, CUDA graphs %s: %.3f s unprofiled (warm-up), %.3f s"
                    + " profiled -> %s (%.1f MB)%n", name, n, previewEvery > 0 ? ", previews every " + previewEvery
                    + " steps" : "", p.unetRunner().enabled() ? "on" : "off", warm, secs, trace,
                    Files.size(trace) / 1e6);
        }
    }

    /** {@value #CALLS} decodes of one image's latents in the VAE's dtype, each in a "vae_decode" range. */
    private static void vae(AutoencoderKL vae, int channels, int latent, String name, Path outDir, PrintStream out)
            throws IOException {
        Path trace = outDir.resolve("vae_" + name + ".json");
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray z = m.randomNormal(new Shape(1, channels, latent, latent)).toType(vae.dtype(), false);
            try (NDManager s = m.newSubManager()) { // warm-up
                vae.decode(s, z);
                NativeOps.sync();
            }
            KernelProfiler.start();
            try {
                for (int i = 0; i < CALLS; i++) {
                    try (KernelProfiler.Range r = KernelProfiler.range("vae_decode"); NDManager s = m.newSubManager()) {
                        vae.decode(s, z);
                        NativeOps.sync();
                    }
                }
            } finally {
                KernelProfiler.stop(trace);
            }
        }
        out.printf(Locale.ROOT, "profile %s VAE decode (1x%dx%dx%d latents, %s): %d calls -> %s (%.1f MB)%n", name,
                channels, latent, latent, vae.dtype(), CALLS, trace, Files.size(trace) / 1e6);
    }
}
