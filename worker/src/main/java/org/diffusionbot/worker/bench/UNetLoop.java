package org.diffusionbot.worker.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import org.diffusionbot.worker.engine.cuda.CudaGraphUNet;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;

/**
 * {@code worker.jar bench --model DIR --unet-loop SECONDS [--loop-batch 16]}: the UNet called back to back for SECONDS
 * of wall time, so that its call time can be set against the GPU's SM clock (which a power-capped H200 lowers under
 * sustained load; {@code scripts/gpu/clock_scan.py} joins these lines with {@code smi.sh}'s log).
 *
 * <p>The call is the bench's "one UNet call" figure's ({@link GpuBench#unetCallMs}): float16 random inputs
 * ({@link UNetInputs}; 64x64 latents for SD 1.5, 128x128 for SDXL), the prompt K|V where the pipeline's
 * {@code SD_PROMPT_KV} makes one, through {@link CudaGraphUNet} (its graph unless {@code SD_CUDA_GRAPHS=0}); 3
 * warm-up calls first (the first captures the graph). Unlike that figure, the device is synchronised after
 * <em>every</em> call, so each call is timed alone (host time from before its launch to the end of its
 * synchronisation: the replay plus a few tens of microseconds of launch and synchronisation; the GPU idles that
 * long between calls).
 *
 * <p>Output, one line per window of about {@value #WINDOW_MS} ms (the calls that ended in it):
 * {@code unet-loop epoch_ms=<System.currentTimeMillis() at the window's end> calls=<n> ms_per_call=<mean ms> min=<ms>},
 * then {@code unet-loop summary calls=<n> mean=<ms> min=<ms> median=<ms>}. Needs the native library (its device
 * synchronisation).
 */
final class UNetLoop {
    /** Target length of a window, ms. */
    static final long WINDOW_MS = 250;

    private UNetLoop() {
    }

    /**
     * @return the exit status: 0, or 2 (with one line saying why) without the native library or a CUDA device, or
     *     for a bad SECONDS or batch
     */
    static int run(Path model, String seconds, String batch, PrintStream out) {
        double secs;
        int b;
        try {
            secs = Double.parseDouble(seconds);
            b = Integer.parseInt(batch);
        } catch (NumberFormatException e) {
            out.println("bench: --unet-loop SECONDS and --loop-batch N take numbers: " + e.getMessage());
            return 2;
        }
        if (!(secs > 0) || b < 1) {
            out.println("bench: --unet-loop needs SECONDS > 0 and --loop-batch >= 1");
            return 2;
        }
        String missing = GpuBench.nativeGpuMissing("--unet-loop", "its device synchronisation times each call");
        if (missing != null) {
            out.println(missing);
            return 2;
        }
        int latent = SdxlBench.isSdxl(model) ? 128 : 64;
        try (StableDiffusionPipeline p = ModelLoader.load(model, DataType.FLOAT16, Device.gpu());
                NDManager m = NDManager.newBaseManager(Device.gpu())) {
            CudaGraphUNet unet = p.unetRunner();
            UNetInputs in = UNetInputs.of(m, p, b, latent);
            out.printf(Locale.ROOT, "unet-loop batch=%d latent=%d seconds=%s graph=%s prompt_kv=%s (device synchronised"
                    + " after every call)%n", b, latent, seconds, unet.enabled(), p.options().promptKv());
            for (int i = 0; i < 3; i++) {
                try (NDManager s = m.newSubManager()) {
                    unet.forward(s, in.sample(), in.timestep(), in.cond());
                }
            }
            NativeOps.sync();
            Windows w = new Windows(WINDOW_MS * 1_000_000L, System.nanoTime());
            long end = System.nanoTime() + (long) (secs * 1e9);
            long now;
            do {
                long t = System.nanoTime();
                try (NDManager s = m.newSubManager()) {
                    unet.forward(s, in.sample(), in.timestep(), in.cond());
                }
                NativeOps.sync();
                now = System.nanoTime();
                String line = w.add((now - t) / 1e6, now, System.currentTimeMillis());
                if (line != null) {
                    out.println(line);
                }
            } while (now < end);
            String last = w.flush(System.currentTimeMillis());
            if (last != null) {
                out.println(last);
            }
            out.println(w.summary());
        }
        return 0;
    }

    /**
     * The loop's bookkeeping, pure (no device): call times in ms grouped into windows of {@code windowNanos} of the
     * caller's clock, and all of them kept for the summary.
     */
    static final class Windows {
        private final long windowNanos;
        private long windowStart;
        private int n;
        private double sum;
        private double min = Double.POSITIVE_INFINITY;
        private double[] all = new double[1024];
        private int count;

        Windows(long windowNanos, long startNanos) {
            this.windowNanos = windowNanos;
            this.windowStart = startNanos;
        }

        /**
         * Adds one call of {@code ms} that ended at {@code nowNanos}; where that closes the window ({@code nowNanos}
         * at least {@code windowNanos} after its start), its line with {@code epochMs} as its end, else null.
         */
        String add(double ms, long nowNanos, long epochMs) {
            if (count == all.length) {
                all = Arrays.copyOf(all, 2 * count);
            }
            all[count++] = ms;
            n++;
            sum += ms;
            min = Math.min(min, ms);
            if (nowNanos - windowStart < windowNanos) {
                return null;
            }
            windowStart = nowNanos;
            return flush(epochMs);
        }

        /** The open window's line (ending at {@code epochMs}) and a new window, or null where it has no call. */
        String flush(long epochMs) {
            if (n == 0) {
                return null;
            }
            String line = String.format(Locale.ROOT, "unet-loop epoch_ms=%d calls=%d ms_per_call=%.3f min=%.3f",
                    epochMs, n, sum / n, min);
            n = 0;
            sum = 0;
            min = Double.POSITIVE_INFINITY;
            return line;
        }

        /** {@code unet-loop summary calls=N mean=MS min=MS median=MS} over every call added (the lower median). */
        String summary() {
            if (count == 0) {
                return "unet-loop summary calls=0";
            }
            double[] s = Arrays.copyOf(all, count);
            Arrays.sort(s);
            double total = 0;
            for (double v : s) {
                total += v;
            }
            return String.format(Locale.ROOT, "unet-loop summary calls=%d mean=%.3f min=%.3f median=%.3f", count,
                    total / count, s[0], s[(count - 1) / 2]);
        }
    }
}
