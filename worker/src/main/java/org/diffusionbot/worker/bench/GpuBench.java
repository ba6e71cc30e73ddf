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
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.worker.engine.Scalars;
import org.diffusionbot.worker.engine.pipeline.GenerationRequest;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.PhaseTimer;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.RequestResult;
import org.diffusionbot.worker.engine.pipeline.RgbImage;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.pipeline.StepView;
import org.diffusionbot.worker.engine.pipeline.VaeDecode;
import org.diffusionbot.worker.engine.cuda.CudaGraphUNet;
import org.diffusionbot.worker.engine.cuda.KernelSelfCheck;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.doctor.ImageDiff;
import org.diffusionbot.worker.runtime.Batcher;
import org.diffusionbot.worker.runtime.PreparedJob;
import org.diffusionbot.worker.runtime.DiffusionGenerator;
import org.diffusionbot.worker.runtime.ImageGenerator;
import org.diffusionbot.worker.runtime.JobOutcome;

/**
 * {@code worker.jar bench}: the GPU benchmark of the issue "the worker on CUDA, faster than diffusers
 * on the same H100" (see docs/GPU.md). For 512x512, 30 steps of DPM++ 2M Karras, guidance 7.5 on an
 * SD 1.5-size model in float16: one UNet call at batch 2/8/16, one image end to end, images/s with
 * 1, 4 and 8 concurrent jobs through the worker's batching path ({@link Batcher} and {@link
 * DiffusionGenerator}, as the runtime's loop runs them), previews every 5 steps, time to first
 * preview, peak GPU memory (and the 8 jobs' figures again with the VAE decode's other images per call, {@code
 * SD_DECODE_BATCH}'s A/B), and GPU memory after N consecutive jobs; then one table with the
 * diffusers baseline read from {@code bench_diffusers.py}'s output of the same machine session.
 *
 * <pre>
 * bench --model DIR [--check TINY_DIR] [--diffusers FILE] [--jobs 200] [--out FILE] [--breakdown]
 * </pre>
 *
 * <p>An SDXL model ({@code text_encoder_2/}) runs {@link SdxlBench} instead: 1024x1024, 30 steps Euler,
 * cfg 7 against {@code bench_diffusers_sdxl.py}'s output. {@code --check} takes either tiny model.
 * {@code bench --model DIR --profile OUT_DIR} runs only {@link KernelProfile} (Chrome traces of eager UNet calls
 * at batch 2 and 16, of whole images and of VAE decodes; needs the native library), {@code bench --lora-model DIR}
 * only {@link LoraBench}, {@code bench --model DIR --unet-loop SECONDS [--loop-batch 16]} only {@link UNetLoop} (UNet
 * calls back to back, each timed alone, per window of ~250 ms: against the SM clock, {@code scripts/gpu/clock_scan.py}).
 *
 * <p>Phase lines ({@link Phases}): one image, 8 concurrent jobs, one job with and one without previews, each timed
 * per pipeline phase with the device synchronised at every phase boundary (runs of their own, after the figures).
 */
public final class GpuBench {
    static final String PROMPT = "a photograph of an astronaut riding a horse";
    private static final int SIZE = 512;
    private static final int STEPS = 30;
    private static final double CFG = 7.5;

    private final PrintStream out;
    private final Map<String, String> ours = new LinkedHashMap<>();

    private GpuBench(PrintStream out) {
        this.out = out;
    }

    /** The command line, printed for {@code --help}, no arguments or an unexpected one. */
    static final String USAGE = """
            usage: java -jar worker.jar bench --model DIR [--check TINY_DIR] [--diffusers FILE] [--jobs 200] [--out FILE] [--breakdown]
                   java -jar worker.jar bench --check TINY_DIR
                   java -jar worker.jar bench --model DIR --profile OUT_DIR
                   java -jar worker.jar bench --model DIR --unet-loop SECONDS [--loop-batch 16]
                   java -jar worker.jar bench --lora-model DIR [--lora-rank 32] [--lora-jobs 8] [--lora-steps 20] [--lora-size N]
            on a CUDA GPU (--lora-model also on the CPU); docs/GPU.md, "Benchmark command"
            """;

    /**
     * Runs the bench command.
     *
     * @return the exit status: 0; 1 when a check fails or the LoRA bench throws; 2 for bad arguments (with
     *     {@link #USAGE}), no CUDA device, or a refused {@code --profile}
     */
    public static int run(String[] args, PrintStream out) throws IOException {
        if (args.length == 1 && (args[0].equals("--help") || args[0].equals("-h"))) {
            out.print(USAGE);
            return 0;
        }
        if (args.length == 0) {
            out.print(USAGE);
            return 2;
        }
        Map<String, String> opt = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--breakdown")) {
                opt.put("breakdown", "1");
            } else if (a.startsWith("--") && i + 1 < args.length) {
                opt.put(a.substring(2), args[++i]);
            } else {
                out.println("bench: unexpected argument " + a);
                out.print(USAGE);
                return 2;
            }
        }
        if (opt.containsKey("lora-model")) {
            try {
                return LoraBench.run(opt, out);
            } catch (Exception e) {
                out.println("bench: " + e);
                return 1;
            }
        }
        if (opt.containsKey("unet-loop")) {
            if (!opt.containsKey("model")) {
                out.println("bench: --unet-loop needs --model DIR");
                return 2;
            }
            return UNetLoop.run(Path.of(opt.get("model")), opt.get("unet-loop"), opt.getOrDefault("loop-batch", "16"),
                    out);
        }
        if (opt.containsKey("profile")) {
            return KernelProfile.run(opt.containsKey("model") ? Path.of(opt.get("model")) : null,
                    Path.of(opt.get("profile")), out);
        }
        GpuBench b = new GpuBench(out);
        Device gpu = Device.gpu();
        if (ai.djl.engine.Engine.getInstance().getGpuCount() == 0) {
            out.println("bench: no CUDA device");
            return 2;
        }
        out.println("native ops: " + (NativeOps.available() ? "loaded" : "NOT loaded (set SD_NATIVE_OPS)"));
        boolean checkOk = true;
        if (opt.containsKey("check")) {
            out.println("== correctness: our CUDA kernels against PyTorch, SD 1.5 shapes");
            checkOk = KernelSelfCheck.SD15.run(gpu, out) & b.check(Path.of(opt.get("check")), gpu);
        }
        if (opt.containsKey("model")) {
            int jobs = Integer.parseInt(opt.getOrDefault("jobs", "200"));
            Path diffusers = opt.containsKey("diffusers") ? Path.of(opt.get("diffusers")) : null;
            String table;
            if (SdxlBench.isSdxl(Path.of(opt.get("model")))) {
                table = new SdxlBench(out).run(Path.of(opt.get("model")), gpu, jobs, diffusers);
            } else {
                b.bench(Path.of(opt.get("model")), gpu, jobs, opt.containsKey("breakdown"));
                table = b.table(diffusers);
            }
            out.println();
            out.println(table);
            if (opt.containsKey("out")) {
                Files.writeString(Path.of(opt.get("out")), table);
            }
        }
        return checkOk ? 0 : 1;
    }

    // ------------------------------------------------------------------ correctness (tiny model)

    /**
     * CUDA fp16 (graphs + native ops, and plain DJL) against CPU fp32 (plain DJL) on the tiny model:
     * txt2img at two sizes and samplers, and one img2img.
     */
    private boolean check(Path tiny, Device gpu) {
        out.println("== correctness: tiny model, CUDA fp16 vs CPU fp32");
        List<GenerationRequest> reqs = new ArrayList<>(List.of(
                new GenerationRequest("a red cube on a blue floor", "", List.of(1L, 2L), 7.5, 1, 64, 64, 20,
                        Sampler.DPMPP_2M_KARRAS, null, null),
                new GenerationRequest("a watercolor fox", "blurry", List.of(3L), 7.0, 1, 128, 96, 15, Sampler.EULER, null,
                        null)));
        boolean ok = true;
        List<RgbImage> ref = new ArrayList<>();
        NativeOps.setEnabled(false);
        try (StableDiffusionPipeline cpu = ModelLoader.load(tiny, DataType.FLOAT32, Device.cpu())) {
            for (GenerationRequest r : reqs) {
                ref.addAll(ImageDiff.images(cpu.generate(List.of(r), PipelineCallbacks.NONE)));
            }
            // img2img (variations, upscales) runs the VAE encoder too: the first image as init, strength 0.6
            RgbImage init = ref.get(0);
            GenerationRequest variation = new GenerationRequest("a red cube on a blue floor", "", List.of(9L), 7.5, 1,
                    64, 64, 20, Sampler.DPMPP_2M_KARRAS, null, null)
                    .withInitImage(Png.encodeRgb(init.width(), init.height(), init.rgb(), Map.of()), 0.6);
            reqs.add(variation);
            ref.addAll(ImageDiff.images(cpu.generate(List.of(variation), PipelineCallbacks.NONE)));
        }
        for (String mode : new String[] {"graphs+native", "native, no graphs", "plain DJL"}) {
            NativeOps.setEnabled(!mode.equals("plain DJL"));
            try (StableDiffusionPipeline p = ModelLoader.load(tiny, DataType.FLOAT16, gpu)) {
                boolean graphs = mode.equals("graphs+native"); // the UNet's and the VAE decoder's
                p.unetRunner().setEnabled(graphs);
                p.vaeDecode().graphs().setEnabled(graphs);
                List<RgbImage> got = new ArrayList<>();
                for (int rep = 0; rep < 2; rep++) { // twice: the second run replays the captured graphs
                    got.clear();
                    for (GenerationRequest r : reqs) {
                        got.addAll(ImageDiff.images(p.generate(List.of(r), PipelineCallbacks.NONE)));
                    }
                }
                ImageDiff diff = ImageDiff.worst(ref, got);
                ok &= diff.passes();
                out.printf(Locale.ROOT, "  %-18s %d images: %s%n", mode, ref.size(), diff);
                if (graphs) {
                    ok &= checkAsyncPreviews(p, reqs.get(0));
                    ok &= checkVaePreviews(p, reqs.get(0));
                }
            }
        }
        NativeOps.setEnabled(true);
        return ok;
    }

    /**
     * x0 read by previews every 5 steps through the asynchronous host copy (callbacks one step late) against the
     * same run on the synchronous path (callbacks inside their step, synchronous copies): the same steps,
     * and x0 within 1e-3 of its largest value (the same computation: 0 unless the GPU is not deterministic; a read
     * before its copy completed would show another step's values or garbage).
     */
    private boolean checkAsyncPreviews(StableDiffusionPipeline p, GenerationRequest r) {
        List<List<float[]>> x0 = new ArrayList<>();
        List<List<Integer>> steps = new ArrayList<>();
        for (boolean async : new boolean[] {true, false}) {
            List<float[]> read = new ArrayList<>();
            List<Integer> seen = new ArrayList<>();
            p.setAsyncPreviews(async);
            try {
                p.generate(List.of(r), new PipelineCallbacks() {
                    @Override
                    public boolean previewDue(int request, int step, int totalSteps) {
                        return step % 5 == 0;
                    }

                    @Override
                    public void onStep(StepView s) {
                        seen.add(s.step());
                        if (previewDue(0, s.step(), s.totalSteps())) {
                            for (int k = 0; k < r.seeds().size(); k++) {
                                read.add(s.x0(0, k));
                            }
                            s.preview(0, 0);
                        }
                    }

                    @Override
                    public PreviewMode previewMode() {
                        return PreviewMode.LATENT_RGB_X2;
                    }
                });
            } finally {
                p.setAsyncPreviews(p.options().asyncPreviews());
            }
            x0.add(read);
            steps.add(seen);
        }
        double worst = 0;
        double scale = 1;
        boolean same = steps.get(0).equals(steps.get(1)) && x0.get(0).size() == x0.get(1).size();
        for (int i = 0; same && i < x0.get(0).size(); i++) {
            float[] a = x0.get(0).get(i);
            float[] b = x0.get(1).get(i);
            same = a.length == b.length;
            for (int j = 0; same && j < a.length; j++) {
                worst = Math.max(worst, Math.abs(a[j] - b[j]));
                scale = Math.max(scale, Math.abs(b[j]));
            }
        }
        boolean ok = same && worst <= 1e-3 * scale;
        out.printf(Locale.ROOT, "  async previews (x0 of %d due steps x %d images, one step late + pinned copy vs"
                + " synchronous copies): max |diff| %.3g (largest |x0| %.3g), steps %s: %s%n", x0.get(0).size()
                / Math.max(1, r.seeds().size()), r.seeds().size(), worst, scale, steps.get(0).equals(steps.get(1))
                ? "same" : steps, ok ? "OK" : "FAIL");
        return ok;
    }

    /**
     * Full VAE previews every 5 steps (asynchronous callbacks: each decode comes after the next step's UNet call is
     * queued, so the VAE decoder's graph replays between the UNet's, in the memory pool they share) with the decoder's
     * graphs on against the same run with them off: the previews and the final images within {@link ImageDiff}'s
     * bound (the same computation; a graph output overwritten before it was read would show as another image).
     */
    private boolean checkVaePreviews(StableDiffusionPipeline p, GenerationRequest r) {
        List<List<RgbImage>> previews = new ArrayList<>();
        List<List<RgbImage>> finals = new ArrayList<>();
        boolean graphs = p.vaeDecode().graphs().enabled();
        try {
            for (boolean on : new boolean[] {true, false}) {
                p.vaeDecode().graphs().setEnabled(on);
                List<RgbImage> seen = new ArrayList<>();
                finals.add(ImageDiff.images(p.generate(List.of(r), new PipelineCallbacks() {
                    @Override
                    public boolean previewDue(int request, int step, int totalSteps) {
                        return step % 5 == 0;
                    }

                    @Override
                    public void onStep(StepView s) {
                        if (previewDue(0, s.step(), s.totalSteps())) {
                            for (int k = 0; k < r.seeds().size(); k++) {
                                seen.add(s.preview(0, k));
                            }
                        }
                    }

                    @Override
                    public PreviewMode previewMode() {
                        return PreviewMode.VAE;
                    }
                })));
                previews.add(seen);
            }
        } finally {
            p.vaeDecode().graphs().setEnabled(graphs);
        }
        boolean ok = previews.get(0).size() == previews.get(1).size() && !previews.get(0).isEmpty();
        ImageDiff prev = ok ? ImageDiff.worst(previews.get(1), previews.get(0)) : null;
        ImageDiff fin = ImageDiff.worst(finals.get(1), finals.get(0));
        ok &= prev != null && prev.passes() && fin.passes();
        out.printf(Locale.ROOT, "  VAE previews (%d decodes of x0 in the step loop, decoder graphs vs eager): previews %s,"
                + " final images %s: %s%n", previews.get(0).size(), prev == null ? "counts differ " + previews.get(0).size()
                + " vs " + previews.get(1).size() : prev, fin, ok ? "OK" : "FAIL");
        return ok;
    }

    // ------------------------------------------------------------------ performance (SD 1.5 size)

    /**
     * Why a bench mode that runs on the GPU through the native library cannot run here, as the one line it prints
     * before exiting with status 2, or null where it can (the library loaded and DJL sees a CUDA device).
     *
     * @param option the mode's option, e.g. {@code --profile}
     * @param why what the mode needs the library for, e.g. {@code the profiler is in it}
     */
    static String nativeGpuMissing(String option, String why) {
        if (!NativeOps.available()) {
            return "bench: " + option + " needs the native library (" + why + "): " + NativeOps.unavailableReason();
        }
        if (ai.djl.engine.Engine.getInstance().getGpuCount() == 0) {
            return "bench: " + option + ": no CUDA device";
        }
        return null;
    }

    private void bench(Path model, Device gpu, int jobs, boolean breakdown) {
        long t0 = System.nanoTime();
        try (StableDiffusionPipeline p = ModelLoader.load(model, DataType.FLOAT16, gpu)) {
            out.printf(Locale.ROOT, "loaded %s in %.1f s%n", model, secs(t0));
            CudaGraphUNet unet = p.unetRunner();
            out.println("== one UNet call (64x64 latents, 77 tokens)");
            for (int b : new int[] {2, 8, 16}) {
                double ms = unetCallMs(p, b, 64, 30);
                ours.put("unet" + b, fmt(ms));
                out.printf(Locale.ROOT, "  batch %2d: %.2f ms (CUDA graph=%s)%n", b, ms, unet.enabled());
            }
            autotuneReport(out);
            autotuneAb(p, unet);
            if (breakdown) {
                boolean graphs = unet.enabled();
                unet.setEnabled(false);
                for (int b : new int[] {2, 16}) {
                    double ms = unetCallMs(p, b, 64, 10);
                    ours.put("unet" + b + "_eager_native", fmt(ms));
                    out.printf(Locale.ROOT, "  batch %2d, eager + native ops: %.2f ms%n", b, ms);
                }
                boolean cudnnFirst = NativeOps.CUDNN_ATTENTION.on();
                NativeOps.CUDNN_ATTENTION.set(!cudnnFirst);
                for (int b : new int[] {2, 16}) {
                    double ms = unetCallMs(p, b, 64, 10);
                    String k = "unet" + b + "_eager_native_" + (cudnnFirst ? "flash_attention" : "cudnn_attention");
                    ours.put(k, fmt(ms));
                    out.printf(Locale.ROOT, "  batch %2d, eager + native ops, %s: %.2f ms%n", b, k, ms);
                }
                NativeOps.CUDNN_ATTENTION.set(null);
                NativeOps.setEnabled(false);
                for (int b : new int[] {2, 16}) {
                    double ms = unetCallMs(p, b, 64, 5);
                    ours.put("unet" + b + "_eager_djl", fmt(ms));
                    out.printf(Locale.ROOT, "  batch %2d, eager plain DJL: %.2f ms%n", b, ms);
                }
                NativeOps.setEnabled(true);
                unet.setEnabled(graphs);
                NativeOps.releaseCache();
            }

            out.println("== one image, 512x512, 30 steps DPM++ 2M Karras, cfg 7.5 (pipeline.generate)");
            GenerationRequest one = new GenerationRequest(PROMPT, "", List.of(1L), CFG, 1, SIZE, SIZE, STEPS,
                    Sampler.DPMPP_2M_KARRAS, null, null);
            p.generate(List.of(one), PipelineCallbacks.NONE);
            double best = 1e9;
            for (int r = 0; r < 3; r++) {
                long s = System.nanoTime();
                ImageDiff.images(p.generate(List.of(one), PipelineCallbacks.NONE));
                best = Math.min(best, secs(s));
            }
            ours.put("image1_s", fmt3(best));
            out.printf(Locale.ROOT, "  %.3f s%n", best);
            phases(p, 3, () -> ImageDiff.images(p.generate(List.of(one), PipelineCallbacks.NONE)))
                    .report(out, ours, "image1", STEPS, ours.get("unet2"));
            double vae = vaeDecodeMs(p.vaeDecode(), SIZE / 8);
            ours.put("vae_ms", fmt(vae));
            out.printf(Locale.ROOT, "  of which the VAE decode (1x4x64x64 latents to 512x512 RGB bytes on the device,"
                    + " CUDA graph=%s): %.2f ms%n", p.vaeDecode().graphs().enabled(), vae);
            if (breakdown) {
                boolean vaeGraphs = p.vaeDecode().graphs().enabled();
                unet.setEnabled(false);
                p.vaeDecode().graphs().setEnabled(false);
                p.generate(List.of(one), PipelineCallbacks.NONE);
                long s = System.nanoTime();
                p.generate(List.of(one), PipelineCallbacks.NONE);
                ours.put("image1_eager_native_s", fmt3(secs(s)));
                out.printf(Locale.ROOT, "  eager + native ops (UNet and VAE decoder without graphs): %.3f s%n", secs(s));
                unet.setEnabled(true);
                p.vaeDecode().graphs().setEnabled(vaeGraphs);
            }

            DiffusionGenerator gen = new DiffusionGenerator(p, PipelineCallbacks.PreviewMode.LATENT_RGB_X2, false);
            out.println("== concurrent jobs through the batching path (Batcher.take, capacity 8, + DiffusionGenerator;"
                    + " up to " + p.options().decodeBatch() + " images per VAE decode call, SD_DECODE_BATCH)");
            for (int n : new int[] {1, 4}) {
                runJobs(gen, n, 0, null); // warm-up (captures the graph of this batch size)
                double t = 1e9;
                for (int r = 0; r < 3; r++) {
                    t = Math.min(t, runJobs(gen, n, 0, null));
                }
                ours.put("jobs" + n + "_s", fmt3(t));
                ours.put("jobs" + n + "_ips", fmt3(n / t));
                out.printf(Locale.ROOT, "  %d job(s): %.3f s, %.2f images/s%n", n, t, n / t);
            }
            eightJobs(p, gen, "", "jobs8", "peak8");
            decodeBatchAb(p, gen);

            out.println("== previews every 5 steps (one job; latent x2 preview + PNG, as the runtime sends it;"
                    + " A/B: the other preview path, interleaved)");
            boolean async = p.options().asyncPreviews(); // the configured path; the A/B runs the other one
            double plain = 1e9;
            double withPrev = 1e9;
            double withOther = 1e9;
            double first = 1e9;
            for (int r = 0; r < 5; r++) {
                plain = Math.min(plain, runJobs(gen, 1, 0, null));
                double[] fp = new double[1];
                withPrev = Math.min(withPrev, runJobs(gen, 1, 5, fp));
                first = Math.min(first, fp[0]);
                p.setAsyncPreviews(!async);
                try {
                    withOther = Math.min(withOther, runJobs(gen, 1, 5, null));
                } finally {
                    p.setAsyncPreviews(async);
                }
            }
            double cost = 100 * (withPrev - plain) / plain;
            double otherCost = 100 * (withOther - plain) / plain;
            ours.put("preview_cost_pct", fmt2(cost));
            ours.put("async_previews", Boolean.toString(async));
            ours.put("preview_cost_other_pct", fmt2(otherCost));
            ours.put("first_preview_ms", fmt(first * 1000));
            out.printf(Locale.ROOT, "  without %.3f s, with %.3f s: %+.2f%%; first preview after %.0f ms;"
                    + " %s: %.3f s, %+.2f%%%n", plain, withPrev, cost, first * 1000, otherPath(!async), withOther,
                    otherCost);
            out.println("  one job without previews, then with previews every 5 steps:");
            phases(p, 3, () -> runJobs(gen, 1, 0, null)).report(out, ours, "jobs1", STEPS, ours.get("unet2"));
            phases(p, 3, () -> runJobs(gen, 1, 5, null)).report(out, ours, "preview", STEPS, ours.get("unet2"));

            out.println("== " + jobs + " consecutive jobs (one image each, varying prompts and seeds)");
            long[] before = NativeOps.cudaMemory();
            long s = System.nanoTime();
            long[] after1 = null;
            for (int j = 0; j < jobs; j++) {
                runJobs(gen, 1, j % 3 == 0 ? 5 : 0, null, 1000 + j);
                if (j == 0) {
                    after1 = NativeOps.cudaMemory();
                }
            }
            long[] after = NativeOps.cudaMemory();
            if (after != null) {
                ours.put("mem_after1_gib", fmt3(after1[0] / (double) (1L << 30)));
                ours.put("mem_afterN_gib", fmt3(after[0] / (double) (1L << 30)));
                ours.put("reserved_after1_gib", fmt3(after1[2] / (double) (1L << 30)));
                ours.put("reserved_afterN_gib", fmt3(after[2] / (double) (1L << 30)));
                out.printf(Locale.ROOT, "  %.1f s; allocated before %.3f GiB, after job 1 %.3f GiB, after job %d %.3f GiB;"
                        + " reserved after job 1 %.3f GiB, after job %d %.3f GiB%n", secs(s), before[0] / 1073741824.0,
                        after1[0] / 1073741824.0, jobs, after[0] / 1073741824.0, after1[2] / 1073741824.0, jobs,
                        after[2] / 1073741824.0);
            }
            ours.put("jobsN", Integer.toString(jobs));
            fp8Image(p, one, out, ours); // last: it clears the CUDA graphs the figures above captured
        }
    }

    /** Names of the pipeline's phases ({@link PhaseTimer}), in run order. */
    static final String[] PHASES = {"text", "latents", "denoise", "decode"};

    /**
     * Where the time of one run went: its pipeline phases ({@link PhaseTimer}, the device synchronised at every
     * phase boundary) and the wall time of the whole run.
     *
     * @param timer the run's phases (ms)
     * @param totalMs wall ms of the whole run (the device synchronised before it starts; it ends with the images on
     *     the host), of which "rest" is what no phase covers (preparing rows, tokenising, jobs' bookkeeping, PNGs)
     */
    record Phases(PhaseTimer timer, double totalMs) {
        /** ms of the run outside the phases. */
        double restMs() {
            return totalMs - timer.sumMs(PHASES);
        }

        /**
         * Prints {@code "  phases (synchronised): text X ms, latents X ms, denoise X ms (S steps; UNet alone S x U ms),
         * decode X ms, rest X ms (total X ms)"} (with the previews' host time inside denoise where there were any) and
         * puts {@code PREFIX_phase_NAME_ms} for each phase, rest and total into {@code ours}.
         *
         * @param unetMs the ms of one UNet call at the run's batch (the bench's figure), or null
         */
        void report(PrintStream out, Map<String, String> ours, String prefix, int steps, String unetMs) {
            StringBuilder note = new StringBuilder().append(steps).append(" steps");
            if (unetMs != null) {
                note.append("; UNet alone ").append(steps).append(" x ").append(unetMs).append(" ms");
            }
            if (timer.count("preview") > 0) {
                note.append(String.format(Locale.ROOT, "; %d previews %.1f ms in their callbacks, waits for their x0 copies included", timer.count("preview"),
                        timer.ms("preview")));
            }
            out.printf(Locale.ROOT, "  phases (synchronised): text %.1f ms, latents %.1f ms, denoise %.1f ms (%s), "
                    + "decode %.1f ms, rest %.1f ms (total %.1f ms)%n", timer.ms("text"), timer.ms("latents"),
                    timer.ms("denoise"), note, timer.ms("decode"), restMs(), totalMs);
            for (String n : PHASES) {
                ours.put(prefix + "_phase_" + n + "_ms", fmt(timer.ms(n)));
            }
            ours.put(prefix + "_phase_preview_ms", fmt(timer.ms("preview")));
            ours.put(prefix + "_phase_rest_ms", fmt(restMs()));
            ours.put(prefix + "_phase_total_ms", fmt(totalMs));
        }
    }

    /** {@code text / latents / denoise / decode / rest} ms of {@link Phases#report}'s keys, for a table cell. */
    static String phaseCell(Map<String, String> ours, String prefix) {
        if (!ours.containsKey(prefix + "_phase_total_ms")) {
            return null;
        }
        StringBuilder b = new StringBuilder();
        for (String n : PHASES) {
            b.append(ours.get(prefix + "_phase_" + n + "_ms")).append(" / ");
        }
        return b.append(ours.get(prefix + "_phase_rest_ms")).toString();
    }

    /**
     * Runs {@code work} {@code runs} times with a {@link PhaseTimer} that synchronises the device at every phase
     * boundary set on the pipeline; the run of least wall time. The timer is taken off the pipeline afterwards.
     */
    static Phases phases(StableDiffusionPipeline p, int runs, Runnable work) {
        Phases best = null;
        for (int r = 0; r < runs; r++) {
            PhaseTimer timer = new PhaseTimer(true);
            NativeOps.sync();
            p.setPhaseTimer(timer);
            long s = System.nanoTime();
            try {
                work.run();
            } finally {
                p.setPhaseTimer(null);
            }
            double ms = (System.nanoTime() - s) / 1e6;
            if (best == null || ms < best.totalMs()) {
                best = new Phases(timer, ms);
            }
        }
        return best;
    }

    /**
     * ms per VAE decode of one image as the pipeline's decode phase runs it ({@link VaeDecode}: scaling, the decoder,
     * 8-bit RGB in HWC order on the device; through its CUDA graph when on), best of 3 after a warm-up call (which
     * captures the graph), the device synchronised around each. The latents are N(0, 1) times the scaling factor, so
     * the decoder sees N(0, 1).
     *
     * @param latent the latents' side (64 for 512x512, 128 for 1024x1024)
     */
    static double vaeDecodeMs(VaeDecode vae, int latent) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray z = Scalars.mul(m.randomNormal(new Shape(1, vae.vae().config().latentChannels(), latent, latent)),
                    (float) vae.vae().config().scalingFactor());
            double best = 1e9;
            for (int i = 0; i < 4; i++) {
                try (NDManager s = m.newSubManager()) {
                    NativeOps.sync();
                    long t = System.nanoTime();
                    vae.decode(s, z);
                    NativeOps.sync();
                    if (i > 0) {
                        best = Math.min(best, (System.nanoTime() - t) / 1e6);
                    }
                }
            }
            return best;
        }
    }

    /**
     * 8 concurrent jobs as the table measures them: the graphs (UNet, VAE decoder) and the cache dropped and the peak
     * reset first (the memory of this batch alone), a warm-up (captures), best of 3, the peak memory, then the phases:
     * in {@code ours} as {@code <jobs>_s}, {@code <jobs>_ips}, {@code <peak>_gib}, {@code <peak>_reserved_gib} and
     * the phases under {@code <jobs>}.
     *
     * @param ab "" for the figures themselves, else the A/B's setting (e.g. " with SD_DECODE_BATCH=4") for its lines
     */
    private void eightJobs(StableDiffusionPipeline p, DiffusionGenerator gen, String ab, String jobs, String peak) {
        String prefix = ab.isEmpty() ? "" : "A/B: ";
        p.clearGraphs();
        NativeOps.releaseCache();
        NativeOps.resetPeak();
        runJobs(gen, 8, 0, null); // warm-up (captures)
        double t = 1e9;
        for (int r = 0; r < 3; r++) {
            t = Math.min(t, runJobs(gen, 8, 0, null));
        }
        ours.put(jobs + "_s", fmt3(t));
        ours.put(jobs + "_ips", fmt3(8 / t));
        out.printf(Locale.ROOT, "  %s8 jobs%s: %.3f s, %.2f images/s%n", prefix, ab, t, 8 / t);
        long[] m = NativeOps.cudaMemory();
        if (m != null) {
            ours.put(peak + "_gib", fmt2(m[1] / (double) (1L << 30)));
            ours.put(peak + "_reserved_gib", fmt2(m[3] / (double) (1L << 30)));
            out.printf(Locale.ROOT, "  %speak GPU memory, 8 jobs%s: %.2f GiB allocated, %.2f GiB reserved%n", prefix,
                    ab, m[1] / (double) (1L << 30), m[3] / (double) (1L << 30));
        }
        phases(p, 2, () -> runJobs(gen, 8, 0, null)).report(out, ours, jobs, STEPS, ours.get("unet16"));
    }

    /**
     * 8 concurrent jobs with the decode phase's images per VAE call the other way ({@code SD_DECODE_BATCH}: 1, or 4 where 1
     * is configured, the default), measured as the 8-job figures ({@link #eightJobs}): in {@code ours} as {@code
     * jobs8_decode_ab_ips}, {@code jobs8_decode_ab_phase_*}, {@code peak8_decode_ab_gib} and {@code
     * peak8_decode_ab_reserved_gib}, and {@code decode_ab} (the value run). The configured value is set again
     * afterwards, and the other setting's graphs and cache dropped.
     */
    private void decodeBatchAb(StableDiffusionPipeline p, DiffusionGenerator gen) {
        int configured = p.options().decodeBatch();
        int other = configured > 1 ? 1 : 4;
        try {
            p.setDecodeBatch(other);
            eightJobs(p, gen, " with SD_DECODE_BATCH=" + other, "jobs8_decode_ab", "peak8_decode_ab");
            ours.put("decode_ab", Integer.toString(other));
        } finally {
            p.setDecodeBatch(configured);
            p.clearGraphs(); // the other setting's decoder graphs and cache go: the memory figures after stay the same
            NativeOps.releaseCache();
        }
    }

    /**
     * What cuBLASLt autotuning found ({@code SD_LT_AUTOTUNE}, docs/GPU.md "What runs on CUDA" 4; {@link
     * NativeOps#autotuneReport()}): the algorithm each product shape seen so far runs, timed on its first eager call
     * (the UNet calls before this warmed every shape up eagerly before their graphs' capture). SD 1.5's bench and
     * SDXL's print it after their UNet calls.
     */
    static void autotuneReport(PrintStream out) {
        out.println("== cuBLASLt autotuning (" + NativeOps.LT_AUTOTUNE + "): per product shape, the algorithm picked"
                + " among cuBLASLt's candidates, timed on its first eager call");
        NativeOps.autotuneReport().lines().forEach(l -> out.println("  " + l));
    }

    /**
     * The batch-16 UNet call with {@code SD_LT_AUTOTUNE} the other way (graphs recaptured for it, and again after the
     * configured value is restored), in {@code ours} as {@code unet16_autotune_ab}: the switch's A/B.
     */
    private void autotuneAb(StableDiffusionPipeline p, CudaGraphUNet unet) {
        if (!NativeOps.LT_AUTOTUNE.linked()) {
            return;
        }
        boolean on = NativeOps.LT_AUTOTUNE.on();
        try {
            NativeOps.LT_AUTOTUNE.set(!on);
            p.clearGraphs(); // captured with the other algorithms and paths
            double ms = unetCallMs(p, 16, 64, 30);
            ours.put("unet16_autotune_ab", fmt(ms));
            out.printf(Locale.ROOT, "  A/B: batch 16 with SD_LT_AUTOTUNE=%s: %.2f ms (CUDA graph=%s)%n", on ? "0" : "1",
                    ms, unet.enabled());
        } finally {
            NativeOps.LT_AUTOTUNE.set(null);
            p.clearGraphs();
        }
    }

    /**
     * ms per call of the pipeline's UNet runner ({@code p.unetRunner()}: its CUDA graphs as they are enabled) on random
     * inputs ({@link UNetInputs#of}: with the prompt K|V where the pipeline's {@code SD_PROMPT_KV} says, as the step
     * loop's calls), after 3 warm-up calls; the device synchronised.
     */
    static double unetCallMs(StableDiffusionPipeline p, int batch, int latent, int iters) {
        CudaGraphUNet unet = p.unetRunner();
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            UNetInputs in = UNetInputs.of(m, p, batch, latent);
            long start = 0;
            for (int i = 0; i < 3 + iters; i++) {
                if (i == 3) {
                    NativeOps.sync();
                    start = System.nanoTime();
                }
                try (NDManager s = m.newSubManager()) {
                    unet.forward(s, in.sample(), in.timestep(), in.cond());
                }
            }
            NativeOps.sync();
            return (System.nanoTime() - start) / 1e6 / iters;
        }
    }

    private static double runJobs(ImageGenerator gen, int n, int previewEvery, double[] firstPreview) {
        return runJobs(gen, n, previewEvery, firstPreview, 7);
    }

    private static double runJobs(ImageGenerator gen, int n, int previewEvery, double[] firstPreview, long seed) {
        return runJobs(gen, SD15, n, previewEvery, firstPreview, seed);
    }

    /** What the jobs of a bench run ask for. */
    record Setup(String model, int size, int steps, double cfg, Sampler sampler) {}

    /** The SD 1.5 bench: 512x512, 30 steps DPM++ 2M Karras, cfg 7.5. */
    static final Setup SD15 = new Setup("sd15", SIZE, STEPS, CFG, Sampler.DPMPP_2M_KARRAS);

    /** n jobs queued at once, taken by the batcher as the runtime loop does; seconds until all are done. */
    static double runJobs(ImageGenerator gen, Setup setup, int n, int previewEvery, double[] firstPreview, long seed) {
        List<JobRequest> pending = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            pending.add(new JobRequest(UUID.randomUUID(), setup.model(), PROMPT + ", variant " + (seed + i), "",
                    setup.size(), setup.size(), setup.steps(), setup.cfg(), setup.sampler(), seed + i, 1,
                    GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP, null, null,
                    previewEvery, Instant.now()));
        }
        long s = System.nanoTime();
        long[] firstAt = {0};
        // as the runtime: previews become PNGs on a sender thread, not on the generating thread
        ExecutorService sender = Executors.newSingleThreadExecutor();
        List<PreparedJob> ready = new ArrayList<>(gen.prepareAll(pending)); // as the runtime: once, as jobs arrive
        while (!ready.isEmpty()) {
            List<PreparedJob> batch = Batcher.take(ready, PreparedJob::job, PreparedJob::key, 8);
            List<JobOutcome> outcomes;
            try {
                outcomes = gen.generate(batch, new ImageGenerator.ProgressListener() {
                    @Override
                    public boolean previewDue(UUID jobId, int step, int totalSteps) {
                        return previewEvery > 0 && step % previewEvery == 0 && step < totalSteps;
                    }

                    @Override
                    public void onStep(UUID jobId, int step, int totalSteps, ImageGenerator.Preview preview) {
                        if (preview != null) {
                            sender.execute(() -> {
                                Png.encodeRgb(preview.width(), preview.height(), preview.rgb(), Map.of());
                                synchronized (firstAt) {
                                    if (firstAt[0] == 0) {
                                        firstAt[0] = System.nanoTime();
                                    }
                                }
                            });
                        }
                    }
                }, id -> false);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            for (JobOutcome o : outcomes) {
                if (!(o instanceof JobOutcome.Succeeded)) {
                    throw new IllegalStateException("job failed: " + o);
                }
            }
        }
        sender.shutdown();
        try {
            if (!sender.awaitTermination(1, TimeUnit.MINUTES)) {
                throw new IllegalStateException("previews not encoded within a minute");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        if (firstPreview != null) {
            synchronized (firstAt) {
                firstPreview[0] = (firstAt[0] - s) / 1e9;
            }
        }
        return (System.nanoTime() - s) / 1e9;
    }

    /** The preview path a run takes, as the A/B row names it. */
    private static String otherPath(boolean async) {
        return async ? "SD_ASYNC_PREVIEWS=1 (callbacks one step late, asynchronous x0 copy)"
                : "SD_ASYNC_PREVIEWS=0 (callbacks inside their step, synchronous x0 copy)";
    }

    /**
     * One image (the bench's request) with the FP8 paths as configured ({@link NativeOps#FP8_PATHS} as the {@code
     * SD_FP8_*} settings or the worker's defaults leave them: the transformer blocks' FP8 linears, ff.net.2's and the
     * ResNet blocks' FP8 convolutions by default, the e4m3 GEGLU intermediate only with {@code SD_FP8_GEGLU=1}) against
     * every FP8 path off (docs/GPU.md, "What runs on CUDA" 8; {@link StableDiffusionPipeline#setFp8}), so the figure
     * describes what the worker runs: mean and max absolute 8-bit difference and PSNR ({@link ImageDiff}), printed
     * (with the paths that ran) and put in {@code figures} as {@code fp8_image_diff} ("mean / max / PSNR"). Skipped,
     * the reason printed, where no FP8 path is on ({@link NativeOps#fp8Off()}: an older GPU, every switch at 0, a
     * library without the functions) or no block of the UNet fits one; the CUDA graphs are recaptured for each run,
     * and the configured switches are restored afterwards. SD 1.5's bench and SDXL's ({@link SdxlBench}) both end with
     * it.
     */
    static void fp8Image(StableDiffusionPipeline p, GenerationRequest one, PrintStream out, Map<String, String> figures) {
        out.println("== FP8 paths as configured against off (one image, the same request; " + NativeOps.fp8Workaround()
                + " turn them off)");
        String off = NativeOps.fp8Off();
        if (off != null) {
            out.println("  skipped: no FP8 path on: " + off);
            return;
        }
        List<String> on = NativeOps.fp8PathsOn();
        try {
            p.setFp8(false);
            List<RgbImage> fp16 = ImageDiff.images(p.generate(List.of(one), PipelineCallbacks.NONE));
            if (!p.setFp8(null)) {
                out.println("  skipped: no block of this UNet fits an FP8 path");
                return;
            }
            List<RgbImage> fp8 = ImageDiff.images(p.generate(List.of(one), PipelineCallbacks.NONE));
            ImageDiff d = ImageDiff.worst(fp16, fp8);
            figures.put("fp8_image_diff", String.format(Locale.ROOT, "%.3f / %d / %.1f", d.meanAbs(), d.maxAbs(),
                    d.psnr()));
            out.printf(Locale.ROOT, "  FP8 as configured (%s): mean |diff| %.3f /255, max %d /255, PSNR %.1f dB%n",
                    String.join(", ", on), d.meanAbs(), d.maxAbs(), d.psnr());
        } finally {
            p.setFp8(null);
        }
    }

    /** {@link #fp8Image}'s row, where it ran. */
    static void fp8Row(BaselineTable t, Map<String, String> figures) {
        if (figures.containsKey("fp8_image_diff")) {
            t.row("one image, FP8 paths as configured vs off: mean / max |diff| (of 255) / PSNR (dB)",
                    figures.get("fp8_image_diff"), null);
        }
    }

    // ------------------------------------------------------------------ table

    private String table(Path diffusersOut) throws IOException {
        BaselineTable t = new BaselineTable("figure (512x512, 30 steps DPM++ 2M Karras, cfg 7.5, fp16)",
                BaselineTable.figures(diffusersOut), BaselineTable.compileMode(diffusersOut), "");
        for (int b : new int[] {2, 8, 16}) {
            t.row("one UNet call, batch " + b + " (ms)", ours.get("unet" + b), "unet_call_ms_batch" + b);
        }
        if (ours.containsKey("unet16_autotune_ab")) {
            t.row("A/B: one UNet call, batch 16, SD_LT_AUTOTUNE=" + (NativeOps.LT_AUTOTUNE.on() ? "0" : "1") + " (ms)",
                    ours.get("unet16_autotune_ab"), null);
        }
        t.row("one image end to end (s)", ours.get("image1_s"), "pipe_30steps_512_images1_s");
        t.row("VAE decode of one image to RGB bytes on the device (ms; CUDA graph unless SD_VAE_GRAPHS=0)",
                ours.get("vae_ms"), null);
        for (int n : new int[] {1, 4, 8}) {
            t.row(n + " concurrent job(s), batching path (images/s; diffusers: " + n + " image(s) in one batch)",
                    ours.get("jobs" + n + "_ips"), "pipe_30steps_512_images" + n + "_img_per_s");
        }
        String phases = "phases, synchronised (ms: text / latents / denoise / decode / rest)";
        t.row("one image: " + phases, phaseCell(ours, "image1"), null);
        t.row("8 concurrent jobs: " + phases, phaseCell(ours, "jobs8"), null);
        if (ours.containsKey("decode_ab")) {
            String ab = "A/B: 8 concurrent jobs with SD_DECODE_BATCH=" + ours.get("decode_ab");
            t.row(ab + " (images/s)", ours.get("jobs8_decode_ab_ips"), null);
            t.row(ab + ": " + phases, phaseCell(ours, "jobs8_decode_ab"), null);
            t.row(ab + ": peak GPU memory, allocated / reserved (GiB)", ours.containsKey("peak8_decode_ab_gib")
                    ? ours.get("peak8_decode_ab_gib") + " / " + ours.get("peak8_decode_ab_reserved_gib") : null, null);
        }
        t.row("1 job: " + phases, phaseCell(ours, "jobs1"), null);
        t.row("1 job, previews every 5 steps: " + phases, phaseCell(ours, "preview"), null);
        t.row("previews every 5 steps: extra time of a job (%)", ours.get("preview_cost_pct"), null);
        t.row("A/B: the same with " + otherPath(!Boolean.parseBoolean(ours.getOrDefault("async_previews", "false")))
                + " (%)", ours.get("preview_cost_other_pct"), null);
        t.row("time to first preview (ms)", ours.get("first_preview_ms"), null);
        fp8Row(t, ours);
        t.row("peak GPU memory, 8 images: reserved by PyTorch's allocator, CUDA graph pool included (GiB)",
                ours.get("peak8_reserved_gib"), "peak_mem_gb");
        t.row("peak GPU memory, 8 images: allocated tensors (GiB; diffusers: max_memory_allocated)",
                ours.get("peak8_gib"), "peak_mem_gb");
        t.row("GPU memory allocated after job 1 / after job " + ours.getOrDefault("jobsN", "?") + " (GiB)",
                ours.get("mem_after1_gib") + " / " + ours.get("mem_afterN_gib"), null);
        t.row("GPU memory reserved after job 1 / after job " + ours.getOrDefault("jobsN", "?") + " (GiB)",
                ours.get("reserved_after1_gib") + " / " + ours.get("reserved_afterN_gib"), null);
        for (String k : new String[] {"unet2_eager_native", "unet16_eager_native", "unet2_eager_native_flash_attention",
                "unet16_eager_native_flash_attention", "unet2_eager_native_cudnn_attention",
                "unet16_eager_native_cudnn_attention", "unet2_eager_djl", "unet16_eager_djl", "image1_eager_native_s"}) {
            if (ours.containsKey(k)) {
                t.row("breakdown: " + k.replace('_', ' ') + (k.endsWith("_s") ? "" : " (ms)"), ours.get(k), null);
            }
        }
        return t.toString();
    }

    static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    static String fmt(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }

    static String fmt2(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    static String fmt3(double v) {
        return String.format(Locale.ROOT, "%.3f", v);
    }
}
