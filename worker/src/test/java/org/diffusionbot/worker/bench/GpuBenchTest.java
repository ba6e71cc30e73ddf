package org.diffusionbot.worker.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.cuda.KernelProfiler;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bench's command line without a GPU: --help and bad arguments print the usage, --profile refuses cleanly. */
class GpuBenchTest {
    @TempDir
    Path tmp;

    private static String[] run(String... args) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = GpuBench.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
        return new String[] {Integer.toString(rc), buf.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void profileWithoutTheNativeLibraryRefusesWithTheReason() throws Exception {
        assumeFalse(NativeOps.available(), "the native library is loaded here");
        Path dir = tmp.resolve("profile");
        String[] r = run("--model", TinyModels.folderPath().toString(), "--profile", dir.toString());
        assertEquals("2", r[0], r[1]);
        assertEquals("bench: --profile needs the native library (the profiler is in it): SD_NATIVE_OPS is not set",
                r[1].strip());
        assertFalse(Files.exists(dir), "nothing written");
        IllegalStateException e = assertThrows(IllegalStateException.class, KernelProfiler::start);
        assertTrue(e.getMessage().contains("SD_NATIVE_OPS is not set"), e.getMessage());
        try (KernelProfiler.Range range = KernelProfiler.range("unet_call")) {
            assertTrue(range != null, "ranges are no-ops without the library");
        }
    }

    @Test
    void theAutotuningReportWithoutTheLibrarySaysWhyThereIsNone() {
        assumeFalse(NativeOps.available(), "the native library is loaded here");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        GpuBench.autotuneReport(new PrintStream(buf, true, StandardCharsets.UTF_8));
        String[] lines = buf.toString(StandardCharsets.UTF_8).split("\\R");
        assertEquals(2, lines.length, buf.toString(StandardCharsets.UTF_8));
        assertTrue(lines[0].startsWith("== cuBLASLt autotuning (SD_LT_AUTOTUNE off (not in this library))"), lines[0]);
        assertEquals("  native ops not loaded: no cuBLASLt autotuning", lines[1]);
    }

    @Test
    void helpPrintsTheUsage() throws Exception {
        String[] r = run("--help");
        assertEquals("0", r[0], r[1]);
        assertEquals(GpuBench.USAGE, r[1]);
        assertTrue(r[1].contains("--model DIR --profile OUT_DIR") && r[1].contains("--lora-model DIR"), r[1]);
    }

    @Test
    void noArgumentsOrAnUnexpectedOnePrintTheUsage() throws Exception {
        String[] none = run();
        assertEquals("2", none[0], none[1]);
        assertEquals(GpuBench.USAGE, none[1]);
        String[] bad = run("--model");
        assertEquals("2", bad[0], bad[1]);
        assertEquals("bench: unexpected argument --model" + System.lineSeparator() + GpuBench.USAGE, bad[1]);
    }

    @Test
    void profileWithoutAModelSaysSo() throws Exception {
        String[] r = run("--profile", tmp.toString());
        assertEquals("2", r[0], r[1]);
        assertEquals("bench: --profile needs --model DIR (the model to profile)", r[1].strip());
    }
}
