package org.diffusionbot.worker.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.junit.jupiter.api.Test;

/** {@code bench --unet-loop}'s windows and summary (no device), and its refusals on the command line. */
class UNetLoopTest {
    private static final long MS = 1_000_000L;

    @Test
    void callsAreGroupedIntoWindowsThatCloseOnTheFirstCallPastTheirLength() {
        UNetLoop.Windows w = new UNetLoop.Windows(250 * MS, 1000 * MS);
        assertNull(w.add(30, 1030 * MS, 5_000));
        assertNull(w.add(20, 1200 * MS, 5_001));
        assertEquals("unet-loop epoch_ms=5002 calls=3 ms_per_call=30.000 min=20.000", w.add(40, 1250 * MS, 5_002));
        // the next window starts where that one closed
        assertNull(w.add(10, 1499 * MS, 5_003));
        assertEquals("unet-loop epoch_ms=5004 calls=2 ms_per_call=15.000 min=10.000", w.add(20, 1500 * MS, 5_004));
        assertNull(w.flush(5_005), "an empty window prints nothing");
        assertNull(w.add(50, 1600 * MS, 5_006));
        assertEquals("unet-loop epoch_ms=5007 calls=1 ms_per_call=50.000 min=50.000", w.flush(5_007));
        // 30 20 40 10 20 50: mean 28.333, min 10, lower median of 10 20 20 30 40 50 = 20
        assertEquals("unet-loop summary calls=6 mean=28.333 min=10.000 median=20.000", w.summary());
    }

    @Test
    void theSummaryKeepsEveryCallPastTheFirstBuffer() {
        UNetLoop.Windows w = new UNetLoop.Windows(250 * MS, 0);
        for (int i = 0; i < 3001; i++) {
            w.add(i, i, 0);
        }
        assertEquals("unet-loop summary calls=3001 mean=1500.000 min=0.000 median=1500.000", w.summary());
        assertEquals("unet-loop summary calls=0", new UNetLoop.Windows(1, 0).summary());
    }

    private static String[] run(String... args) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = GpuBench.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
        return new String[] {Integer.toString(rc), buf.toString(StandardCharsets.UTF_8).strip()};
    }

    @Test
    void theCommandLineRefusesWhatItCannotRun() throws Exception {
        String model = TinyModels.folderPath().toString();
        assertEquals("bench: --unet-loop needs --model DIR", run("--unet-loop", "5")[1]);
        String[] bad = run("--model", model, "--unet-loop", "x");
        assertEquals("2", bad[0], bad[1]);
        assertEquals("bench: --unet-loop needs SECONDS > 0 and --loop-batch >= 1",
                run("--model", model, "--unet-loop", "5", "--loop-batch", "0")[1]);
        assumeFalse(NativeOps.available(), "the native library is loaded here");
        assertEquals("bench: --unet-loop needs the native library (its device synchronisation times each call):"
                + " SD_NATIVE_OPS is not set", run("--model", model, "--unet-loop", "5")[1]);
    }
}
