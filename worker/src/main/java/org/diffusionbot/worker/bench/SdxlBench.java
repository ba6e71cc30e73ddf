package org.diffusionbot.worker.bench;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.doctor.ImageDiff;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.GenerationRequest;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.runtime.DiffusionGenerator;

/**
 * The SDXL part of {@code worker.jar bench} (issue 13): an SDXL-size model (random weights from
 * {@code reference/full-size/sdxl/manifest.json}, {@code scripts/gpu/gen_sdxl.py}) in float16 on CUDA,
 * 1024x1024, 30 steps Euler, cfg 7: one UNet call at batch 2 (128x128 latents, added conditioning),
 * one image end to end, 4 concurrent jobs through the batching path, their peak GPU memory, and GPU
 * memory over N consecutive jobs, one image with the FP8 paths as configured against off ({@link
 * GpuBench#fp8Image}); then one table against {@code bench_diffusers_sdxl.py}'s output of the same session (one
 * image, 4 images in one batch, peak memory).
 */
final class SdxlBench {
    static final GpuBench.Setup SDXL = new GpuBench.Setup("sdxl", 1024, 30, 7.0, Sampler.EULER);

    private final PrintStream out;
    private final Map<String, String> ours = new LinkedHashMap<>();

    SdxlBench(PrintStream out) {
        this.out = out;
    }

    /** Whether the model folder is an SDXL pipeline (it has a second text encoder). */
    static boolean isSdxl(Path model) {
        return Files.isDirectory(model.resolve("text_encoder_2"));
    }

    String run(Path model, Device gpu, int jobs, Path diffusers) throws IOException {
        long t0 = System.nanoTime();
        try (StableDiffusionPipeline p = ModelLoader.load(model, DataType.FLOAT16, gpu)) {
            out.printf(Locale.ROOT, "loaded %s (SDXL) in %.1f s; VAE in %s%n", model, GpuBench.secs(t0),
                    p.models().vae().dtype());
            out.println("== one UNet call (128x128 latents, 77 tokens, pooled embedding + time ids)");
            double ms = GpuBench.unetCallMs(p, 2, 128, 10);
            ours.put("unet2", GpuBench.fmt(ms));
            out.printf(Locale.ROOT, "  batch 2: %.2f ms (CUDA graph=%s)%n", ms, p.unetRunner().enabled());
            GpuBench.autotuneReport(out);

            out.println("== one image, 1024x1024, 30 steps Euler, cfg 7 (pipeline.generate)");
            GenerationRequest one = new GenerationRequest(GpuBench.PROMPT, "", List.of(1L), SDXL.cfg(),
                    GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP, SDXL.size(),
                    SDXL.size(), SDXL.steps(), SDXL.sampler(), null, null);
            ImageDiff.images(p.generate(List.of(one), PipelineCallbacks.NONE));
            double best = 1e9;
            for (int r = 0; r < 3; r++) {
                long s = System.nanoTime();
                ImageDiff.images(p.generate(List.of(one), PipelineCallbacks.NONE));
                best = Math.min(best, GpuBench.secs(s));
            }
            ours.put("image1_s", GpuBench.fmt3(best));
            out.printf(Locale.ROOT, "  %.3f s%n", best);
            GpuBench.phases(p, 2, () -> ImageDiff.images(p.generate(List.of(one), PipelineCallbacks.NONE)))
                    .report(out, ours, "image1", SDXL.steps(), ours.get("unet2"));
            double vae = GpuBench.vaeDecodeMs(p.vaeDecode(), 128);
            ours.put("vae_ms", GpuBench.fmt(vae));
            DataType vaeType = p.models().vae().dtype();
            out.printf(Locale.ROOT, "  of which the VAE decode (1x4x128x128 latents to 1024x1024 RGB bytes on the device,"
                    + " %s %s, CUDA graph=%s): %.1f ms%n", vaeType,
                    p.options().channelsLastFor(vaeType, gpu) ? "channels-last" : "NCHW",
                    p.vaeDecode().graphs().enabled(), vae);

            DiffusionGenerator gen = new DiffusionGenerator(p, PipelineCallbacks.PreviewMode.LATENT_RGB_X2, false);
            out.println("== concurrent jobs through the batching path (Batcher.take + DiffusionGenerator)");
            for (int n : new int[] {1, 4}) {
                if (n == 4) { // memory of this batch alone: no graphs (UNet, VAE decoder), no cache
                    p.clearGraphs();
                    NativeOps.releaseCache();
                    NativeOps.resetPeak();
                }
                GpuBench.runJobs(gen, SDXL, n, 0, null, 7);
                double t = 1e9;
                for (int r = 0; r < 2; r++) {
                    t = Math.min(t, GpuBench.runJobs(gen, SDXL, n, 0, null, 7));
                }
                ours.put("jobs" + n + "_ips", GpuBench.fmt3(n / t));
                out.printf(Locale.ROOT, "  %d job(s): %.3f s, %.3f images/s%n", n, t, n / t);
                long[] m = NativeOps.cudaMemory();
                if (n == 4 && m != null) {
                    ours.put("peak4_gib", GpuBench.fmt2(m[1] / (double) (1L << 30)));
                    ours.put("peak4_reserved_gib", GpuBench.fmt2(m[3] / (double) (1L << 30)));
                    out.printf(Locale.ROOT, "  peak GPU memory, 4 jobs: %.2f GiB allocated, %.2f GiB reserved%n",
                            m[1] / (double) (1L << 30), m[3] / (double) (1L << 30));
                }
            }

            out.println("== " + jobs + " consecutive jobs (one image each, varying prompts and seeds)");
            long s = System.nanoTime();
            long[] after1 = null;
            for (int j = 0; j < jobs; j++) {
                GpuBench.runJobs(gen, SDXL, 1, j % 3 == 0 ? 5 : 0, null, 1000 + j);
                if (j == 0) {
                    after1 = NativeOps.cudaMemory();
                }
            }
            long[] after = NativeOps.cudaMemory();
            if (after != null && after1 != null) {
                ours.put("mem", GpuBench.fmt3(after1[0] / (double) (1L << 30)) + " / "
                        + GpuBench.fmt3(after[0] / (double) (1L << 30)));
                ours.put("reserved", GpuBench.fmt3(after1[2] / (double) (1L << 30)) + " / "
                        + GpuBench.fmt3(after[2] / (double) (1L << 30)));
                out.printf(Locale.ROOT, "  %.1f s; allocated after job 1 %s GiB, after job %d; reserved %s GiB%n",
                        GpuBench.secs(s), ours.get("mem"), jobs, ours.get("reserved"));
            }
            ours.put("jobsN", Integer.toString(jobs));
            GpuBench.fp8Image(p, one, out, ours); // last: it clears the CUDA graphs the figures above captured
        }
        return table(diffusers);
    }

    private String table(Path diffusers) throws IOException {
        BaselineTable t = new BaselineTable("figure (SDXL, 1024x1024, 30 steps Euler, cfg 7, fp16)",
                BaselineTable.figures(diffusers), BaselineTable.compileMode(diffusers), "sdxl_");
        t.row("one UNet call, batch 2 (ms)", ours.get("unet2"), "unet_call_ms_batch2");
        t.row("one image end to end (s)", ours.get("image1_s"), "pipe_30steps_1024_images1_s");
        t.row("one image: phases, synchronised (ms: text / latents / denoise / decode / rest)",
                GpuBench.phaseCell(ours, "image1"), null);
        t.row("VAE decode of one image to RGB bytes on the device, in the VAE's type (ms; CUDA graph unless"
                + " SD_VAE_GRAPHS=0)", ours.get("vae_ms"), null);
        t.row("1 job (images/s)", ours.get("jobs1_ips"), "pipe_30steps_1024_images1_img_per_s");
        t.row("4 concurrent jobs, batching path (images/s; diffusers: 4 images in one batch)", ours.get("jobs4_ips"),
                "pipe_30steps_1024_images4_img_per_s");
        t.row("peak GPU memory, 4 images: allocated tensors (GiB; diffusers: max_memory_allocated)",
                ours.get("peak4_gib"), "peak_mem_gb");
        t.row("peak GPU memory, 4 images: reserved by PyTorch's allocator (GiB)", ours.get("peak4_reserved_gib"),
                "peak_mem_gb");
        t.row("GPU memory allocated after job 1 / after job " + ours.getOrDefault("jobsN", "?") + " (GiB)",
                ours.get("mem"), null);
        t.row("GPU memory reserved after job 1 / after job " + ours.getOrDefault("jobsN", "?") + " (GiB)",
                ours.get("reserved"), null);
        GpuBench.fp8Row(t, ours);
        return t.toString();
    }
}
