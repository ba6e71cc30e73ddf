package org.diffusionbot.worker.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.regex.Pattern;
import org.diffusionbot.common.LoraTags;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.io.SafetensorsWriter;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.lora.LoraPatcher;
import org.diffusionbot.worker.engine.lora.LoraTargets;
import org.diffusionbot.worker.engine.lora.ModelFolder;
import org.diffusionbot.worker.engine.lora.PatchableModel;
import org.diffusionbot.worker.engine.models.NamedParameters;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.runtime.Batcher;
import org.diffusionbot.worker.runtime.PreparedJob;
import org.diffusionbot.worker.runtime.DiffusionGenerator;
import org.diffusionbot.worker.runtime.ImageGenerator;

/**
 * The LoRA benchmark (issue 14): {@code worker.jar bench --lora-model MODEL [--lora-rank 32] [--lora-jobs 8]
 * [--lora-steps 20] [--lora-size 512]}. It writes two kohya LoRAs of the given rank over every attention
 * (q, k, v, out) and feed-forward weight of the model's UNet, then prints (1) the time of the first use of
 * both (files mapped, factors put on the device), the time to apply one set and remove it again and the
 * time to switch from one set to the other (best and median of 5; the device synchronised), with the
 * native library also {@link #check} and the same figures through DJL ({@code SD_LORA_NATIVE=0}), and (2)
 * images/s of {@code jobs}
 * one-image jobs that alternate between the two sets against the same jobs all of one set, each batched
 * as the worker batches them ({@link Batcher}, capacity = jobs).
 */
public final class LoraBench {
    /** The UNet weights a benchmark LoRA covers: attention q/k/v/out and feed-forward, as in the issue. */
    static final Pattern COVERED = Pattern.compile(".*\\.(attn[12]\\.(to_q|to_k|to_v|to_out\\.0)|ff\\.net\\.0\\.proj|ff\\.net\\.2)"
            + "\\.weight$");

    private LoraBench() {}

    /**
     * Writes a kohya LoRA of rank {@code rank} over every covered UNet weight of {@code targets}
     * (random factors, alpha = rank), in float32.
     *
     * @return the number of modules written
     */
    static int writeLora(LoraTargets targets, int rank, long seed, Path file) {
        SafetensorsWriter w = new SafetensorsWriter();
        Random rnd = new Random(seed);
        int modules = 0;
        for (Map.Entry<String, Shape> e : targets.of(LoraTargets.Part.UNET).entrySet()) {
            Shape s = e.getValue();
            if (!COVERED.matcher(e.getKey()).matches() || s.dimension() != 2) {
                continue;
            }
            String module = "lora_unet_" + e.getKey().substring(0, e.getKey().length() - ".weight".length()).replace('.', '_');
            w.addF32(module + ".lora_down.weight", new long[] {rank, s.get(1)}, random(rnd, rank * s.get(1)));
            w.addF32(module + ".lora_up.weight", new long[] {s.get(0), rank}, random(rnd, s.get(0) * rank));
            w.addF32(module + ".alpha", new long[0], (float) rank);
            modules++;
        }
        w.write(file);
        return modules;
    }

    private static float[] random(Random rnd, long n) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian() * 0.01f;
        }
        return v;
    }

    /** Runs the benchmark; the exit status (2: bad arguments or a model that cannot take LoRAs). */
    static int run(Map<String, String> opt, PrintStream out) throws Exception {
        Path model = Path.of(opt.get("lora-model"));
        int rank = Integer.parseInt(opt.getOrDefault("lora-rank", "32"));
        int jobs = Integer.parseInt(opt.getOrDefault("lora-jobs", "8"));
        int steps = Integer.parseInt(opt.getOrDefault("lora-steps", "20"));
        boolean gpu = ai.djl.engine.Engine.getInstance().getGpuCount() > 0;
        Device device = gpu ? Device.gpu() : Device.cpu();
        try (StableDiffusionPipeline p = ModelLoader.load(model, gpu ? DataType.FLOAT16 : DataType.FLOAT32, device)) {
            int size = Integer.parseInt(opt.getOrDefault("lora-size", String.valueOf(p.nativeSize())));
            PatchableModel weights = p.models().patchable();
            Path dir = Files.createTempDirectory("lora-bench-");
            int modules = writeLora(weights.targets(), rank, 1, dir.resolve("bench_a.safetensors"));
            writeLora(weights.targets(), rank, 2, dir.resolve("bench_b.safetensors"));
            out.printf(Locale.ROOT, "model %s (%s) on %s; two rank-%d LoRAs over %d UNet weights%n", model,
                    p.family().label(), device, rank, modules);
            Map<String, LoraTags.Lora> a = LoraTags.set("<lora:bench_a:0.8>", "");
            Map<String, LoraTags.Lora> b = LoraTags.set("<lora:bench_b:0.8>", "");
            try (LoraPatcher patcher = new LoraPatcher(weights, new ModelFolder(dir, "LoRA"), device,
                    p.options().loraCacheBytes());
                    NDManager m = NDManager.newBaseManager(device)) {
                long t0 = System.nanoTime();
                patcher.apply(a); // the files are mapped (and their factors put on the device) once
                patcher.apply(b);
                patcher.apply(Map.of());
                sync(m);
                out.printf(Locale.ROOT, "first use of both sets (files read, factors onto the device): %.1f ms; %.1f MiB"
                        + " of factors held there (SD_LORA_CACHE_MB=%d, default %d)%n", (System.nanoTime() - t0) / 1e6,
                        patcher.uploadedBytes() / 1048576.0, p.options().loraCacheMb(), LoraPatcher.CACHE_MB);
                boolean nativePatches = NativeOps.loraPatches();
                double[] t = applyRemove(patcher, a, b, m);
                out.printf(Locale.ROOT, "apply + remove one set: best %.1f ms, median %.1f ms (%s)%n", t[0], t[1],
                        nativePatches ? "native, one call each (SD_LORA_NATIVE=0: DJL)" : "DJL, weight by weight");
                out.printf(Locale.ROOT, "switch from one set to the other: best %.1f ms, median %.1f ms%n", t[2], t[3]);
                if (nativePatches) {
                    String check = check(p.models().unet().parameters(), patcher, a, m);
                    out.println(check);
                    if (check.contains("FAIL")) {
                        return 1;
                    }
                    NativeOps.LORA_NATIVE.set(false);
                    try {
                        t = applyRemove(patcher, a, b, m);
                    } finally {
                        NativeOps.LORA_NATIVE.set(null);
                    }
                    out.printf(Locale.ROOT, "  the same with DJL (SD_LORA_NATIVE=0): apply + remove best %.1f ms, median %.1f"
                            + " ms; switch best %.1f ms, median %.1f ms%n", t[0], t[1], t[2], t[3]);
                }
            }
            p.useAddons(dir, null, w -> { });
            DiffusionGenerator gen = new DiffusionGenerator(p, PipelineCallbacks.PreviewMode.LATENT_RGB_X2, false);
            double one = imagesPerSecond(gen, jobs, steps, size, false);
            double two = imagesPerSecond(gen, jobs, steps, size, true);
            out.printf(Locale.ROOT, "%d jobs, %d steps, %dx%d: one set %.3f images/s, alternating two sets %.3f images/s"
                    + " (%.1f%% less)%n", jobs, steps, size, size, one, two, 100 * (1 - two / one));
            return 0;
        }
    }

    /**
     * Best and median of 5 of: applying a set and removing it again, and switching from {@code b} to {@code a}
     * (what a batch of another set pays), the device synchronised.
     */
    private static double[] applyRemove(LoraPatcher patcher, Map<String, LoraTags.Lora> a, Map<String, LoraTags.Lora> b,
            NDManager m) {
        List<Double> once = new ArrayList<>();
        List<Double> switches = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            long t0 = System.nanoTime();
            patcher.apply(i % 2 == 0 ? a : b);
            patcher.apply(Map.of());
            sync(m);
            once.add((System.nanoTime() - t0) / 1e6);
            patcher.apply(b);
            sync(m);
            t0 = System.nanoTime();
            patcher.apply(a);
            sync(m);
            switches.add((System.nanoTime() - t0) / 1e6);
            patcher.apply(Map.of());
        }
        once.sort(null);
        switches.sort(null);
        return new double[] {once.get(0), once.get(2), switches.get(0), switches.get(2)};
    }

    /**
     * The native patch against DJL's on a sample of the covered weights (the first {@value #CHECKED}, fused
     * and pre-scaled q among them): the largest difference of the patched values (each path adds the float32
     * sum with one rounding to float16; they may differ by a float16 step where the float32 sums round
     * differently), and whether taking the set off gives back every sampled weight bit for bit on both paths.
     *
     * @return one line, with FAIL when a restore is not exact or the paths differ by more than 1e-2
     */
    static String check(NamedParameters unet, LoraPatcher patcher, Map<String, LoraTags.Lora> set, NDManager m) {
        List<String> names = unet.all().keySet().stream().filter(n -> COVERED.matcher(n).matches()).limit(CHECKED).toList();
        Map<String, float[]> before = values(unet, names, m);
        patcher.apply(set);
        Map<String, float[]> nativeValues = values(unet, names, m);
        patcher.apply(Map.of());
        boolean restored = same(before, values(unet, names, m));
        NativeOps.LORA_NATIVE.set(false);
        Map<String, float[]> djl;
        try {
            patcher.apply(set);
            djl = values(unet, names, m);
            patcher.apply(Map.of());
            restored &= same(before, values(unet, names, m));
        } finally {
            NativeOps.LORA_NATIVE.set(null);
        }
        double max = 0;
        long differ = 0;
        long all = 0;
        for (String n : names) {
            float[] x = nativeValues.get(n);
            float[] y = djl.get(n);
            for (int i = 0; i < x.length; i++) {
                max = Math.max(max, Math.abs(x[i] - y[i]));
                differ += x[i] != y[i] ? 1 : 0;
            }
            all += x.length;
        }
        boolean ok = restored && max <= 1e-2;
        return String.format(Locale.ROOT, "check (%s): native vs DJL patch over %d weights: max |diff| %.3g, %d of %d values"
                + " differ; restored bit for bit on both paths: %s", ok ? "OK" : "FAIL", names.size(), max, differ, all,
                restored ? "yes" : "NO");
    }

    /** How many weights {@link #check} compares. */
    private static final int CHECKED = 24;

    private static Map<String, float[]> values(NamedParameters params, List<String> names, NDManager m) {
        Map<String, float[]> out = new java.util.LinkedHashMap<>();
        try (NDManager tmp = m.newSubManager()) {
            for (String n : names) {
                out.put(n, params.get(n).value(tmp).toFloatArray());
            }
        }
        return out;
    }

    private static boolean same(Map<String, float[]> a, Map<String, float[]> b) {
        return a.keySet().stream().allMatch(n -> java.util.Arrays.equals(a.get(n), b.get(n)));
    }

    /** Waits for the device's queued work. */
    private static void sync(NDManager m) {
        try (ai.djl.ndarray.NDArray z = m.zeros(new Shape(1), DataType.FLOAT32)) {
            z.toFloatArray();
        }
    }

    /** Best of 2 runs (after a warm-up run) of {@code jobs} jobs batched as the worker batches them. */
    private static double imagesPerSecond(DiffusionGenerator gen, int jobs, int steps, int size, boolean alternate)
            throws Exception {
        double best = 0;
        for (int run = 0; run < 3; run++) {
            List<JobRequest> pending = new ArrayList<>();
            for (int j = 0; j < jobs; j++) {
                String lora = alternate && j % 2 == 1 ? "bench_b" : "bench_a";
                pending.add(new JobRequest(UUID.randomUUID(), "bench", "a castle <lora:" + lora + ":0.8>", "", size, size,
                        steps, 7, Sampler.EULER, j, 1, GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP, null, null, 0,
                        Instant.now()));
            }
            long t0 = System.nanoTime();
            List<PreparedJob> ready = new ArrayList<>(gen.prepareAll(pending));
            while (!ready.isEmpty()) {
                gen.generate(Batcher.take(ready, PreparedJob::job, PreparedJob::key, jobs), ImageGenerator.ProgressListener.NONE, id -> false);
            }
            double ips = jobs / ((System.nanoTime() - t0) / 1e9);
            best = run == 0 ? 0 : Math.max(best, ips);
        }
        return best;
    }

}
