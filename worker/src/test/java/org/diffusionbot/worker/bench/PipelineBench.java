package org.diffusionbot.worker.bench;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.pipeline.GenerationRequest;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.pipeline.StepView;

/**
 * CPU benchmark (not a test; run by hand, see docs/BENCHMARKS.md):
 *
 * <ol>
 *   <li>tiny model: time per step and per image at 64x64 and 256x256 (euler, 20 steps, cfg 7);</li>
 *   <li>SD 1.5-size single file of random fp16 weights (every name and shape of
 *       reference/full-size/sd15/manifest.json; generated once into {@code target/bench/}, never
 *       committed): load time and resident memory after loading; optionally one 256x256 step.</li>
 * </ol>
 *
 * Arguments: {@code [tiny] [sd15] [sd15-step]} (default: tiny sd15).
 */
public final class PipelineBench {
    private PipelineBench() {}

    public static void main(String[] args) throws Exception {
        List<String> what = args.length == 0 ? List.of("tiny", "sd15") : List.of(args);
        Path res = Path.of("worker/src/test/resources/reference");
        if (!Files.isDirectory(res)) {
            res = Path.of("src/test/resources/reference");
        }
        if (what.contains("tiny")) {
            tiny(res.resolve("tiny-sd15/model"));
        }
        if (what.contains("sd15") || what.contains("sd15-step")) {
            Path file = Path.of(System.getProperty("bench.dir", "target/bench")).resolve("sd15-random-fp16.safetensors");
            if (!Files.exists(file)) {
                long t = System.nanoTime();
                writeRandomCheckpoint(res.resolve("full-size/sd15/manifest.json"), file);
                System.out.printf(Locale.ROOT, "wrote %s (%.2f GB) in %.1f s%n", file, Files.size(file) / 1e9,
                        (System.nanoTime() - t) / 1e9);
            }
            sd15(file, what.contains("sd15-step"));
        }
    }

    private static void tiny(Path model) {
        long rss0 = rssKb();
        long t0 = System.nanoTime();
        try (StableDiffusionPipeline p = ModelLoader.load(model, DataType.FLOAT32, Device.cpu())) {
            System.out.printf(Locale.ROOT, "tiny: load %.2f s, RSS +%d MB%n", (System.nanoTime() - t0) / 1e9,
                    (rssKb() - rss0) / 1024);
            for (int size : new int[] {64, 256}) {
                GenerationRequest r = GenerationRequest.of("a photograph of an astronaut riding a horse", size, size, 20,
                        Sampler.EULER, 1);
                p.generate(List.of(r), null); // warm-up
                int runs = 3;
                long[] firstStep = new long[1];
                long start = System.nanoTime();
                for (int i = 0; i < runs; i++) {
                    p.generate(List.of(r), new PipelineCallbacks() {
                        @Override
                        public void onStep(StepView s) {
                            if (s.step() == s.totalSteps()) {
                                firstStep[0] += System.nanoTime();
                            }
                        }
                    });
                    firstStep[0] -= System.nanoTime(); // decode time, subtracted below
                }
                double perImage = (System.nanoTime() - start) / 1e9 / runs;
                double decode = -firstStep[0] / 1e9 / runs;
                System.out.printf(Locale.ROOT, "tiny %dx%d: %.3f s/image (20 steps + decode), %.1f ms/step, decode %.1f ms%n",
                        size, size, perImage, (perImage - decode) / 20 * 1000, decode * 1000);
            }
        }
    }

    private static void sd15(Path file, boolean step) {
        long rss0 = rssKb();
        long t0 = System.nanoTime();
        try (StableDiffusionPipeline p = ModelLoader.load(file, DataType.FLOAT32, Device.cpu())) {
            double load = (System.nanoTime() - t0) / 1e9;
            System.gc();
            System.out.printf(Locale.ROOT, "sd15 fp16 file -> fp32 CPU: load %.1f s, RSS %d MB (+%d MB), %s%n", load,
                    rssKb() / 1024, (rssKb() - rss0) / 1024, p.description());
            if (step) {
                GenerationRequest r = GenerationRequest.of("a photograph of an astronaut riding a horse", 256, 256, 1,
                        Sampler.EULER, 1);
                long s = System.nanoTime();
                p.generate(List.of(r), null);
                System.out.printf(Locale.ROOT, "sd15 256x256, 1 step (batch 2 with cfg) + VAE decode: %.1f s, peak-ish RSS %d MB%n",
                        (System.nanoTime() - s) / 1e9, rssKb() / 1024);
            }
        }
    }

    /** float → IEEE half (truncating; tiny values flush to zero): enough for random weights. */
    static short f16(float f) {
        int b = Float.floatToIntBits(f);
        int sign = (b >>> 16) & 0x8000;
        int exp = ((b >>> 23) & 0xff) - 127 + 15;
        int mant = (b >>> 13) & 0x3ff;
        if (exp <= 0) {
            return (short) sign;
        }
        if (exp >= 31) {
            return (short) (sign | 0x7c00);
        }
        return (short) (sign | (exp << 10) | mant);
    }

    static long rssKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            // not Linux
        }
        return -1;
    }

    /** Random fp16 values (uniform ±0.02; norm weights 1) under every single-file name and shape of the manifest. */
    static void writeRandomCheckpoint(Path manifest, Path out) throws IOException {
        JsonNode keys = new ObjectMapper().readTree(manifest.toFile()).get("single_file_keys");
        List<String> names = new ArrayList<>();
        List<long[]> shapes = new ArrayList<>();
        for (String comp : List.of("unet", "vae", "text_encoder")) {
            for (Iterator<Map.Entry<String, JsonNode>> it = keys.get(comp).fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().endsWith("position_ids")) {
                    continue;
                }
                long[] s = new long[e.getValue().size()];
                for (int i = 0; i < s.length; i++) {
                    s[i] = e.getValue().get(i).asLong();
                }
                names.add(e.getKey());
                shapes.add(s);
            }
        }
        StringBuilder h = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long off = 0;
        for (int i = 0; i < names.size(); i++) {
            long n = 1;
            StringBuilder sh = new StringBuilder();
            for (int d = 0; d < shapes.get(i).length; d++) {
                n *= shapes.get(i)[d];
                sh.append(d > 0 ? "," : "").append(shapes.get(i)[d]);
            }
            h.append(",\"").append(names.get(i)).append("\":{\"dtype\":\"F16\",\"shape\":[").append(sh)
                    .append("],\"data_offsets\":[").append(off).append(',').append(off + 2 * n).append("]}");
            off += 2 * n;
        }
        byte[] header = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
        Files.createDirectories(out.toAbsolutePath().getParent());
        SplittableRandom rnd = new SplittableRandom(0);
        short[] pool = new short[1 << 20];
        for (int i = 0; i < pool.length; i++) {
            pool[i] = f16((float) (rnd.nextDouble() * 0.04 - 0.02));
        }
        short one = f16(1f);
        try (OutputStream os = new java.io.BufferedOutputStream(Files.newOutputStream(out), 1 << 22)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
            os.write(len.array());
            os.write(header);
            ByteBuffer buf = ByteBuffer.allocate(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < names.size(); i++) {
                long n = 1;
                for (long d : shapes.get(i)) {
                    n *= d;
                }
                String name = names.get(i);
                boolean norm = shapes.get(i).length == 1 && name.endsWith(".weight")
                        && (name.contains("norm") || name.contains("ln_") || name.contains("in_layers.0")
                        || name.contains("out_layers.0") || name.contains(".out.0."));
                int start = rnd.nextInt(pool.length);
                for (long k = 0; k < n; k++) {
                    if (!buf.hasRemaining()) {
                        os.write(buf.array(), 0, buf.position());
                        buf.clear();
                    }
                    buf.putShort(norm ? one : pool[(int) ((start + k) & (pool.length - 1))]);
                }
            }
            os.write(buf.array(), 0, buf.position());
        }
    }
}
