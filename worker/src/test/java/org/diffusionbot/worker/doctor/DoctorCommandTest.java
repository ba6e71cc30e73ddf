package org.diffusionbot.worker.doctor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.diffusionbot.worker.engine.cuda.GpuSetup;
import org.junit.jupiter.api.Test;

/** {@code worker.jar doctor} where the tests run: DJL's bundled CPU libtorch, no native library. */
class DoctorCommandTest {
    @Test
    void reportsTheSetupRunsTheTinyModelOnTheCpuAndSaysWhatIsMissing() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int status = DoctorCommand.run(new String[0], new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        List<String> lines = out.lines().toList();
        String last = lines.get(lines.size() - 1);
        assertTrue(out.contains("DJL 0.35.1"), out);
        assertTrue(out.contains("libtorch 2.7.1 (CPU only) from ") && out.contains("(DJL's bundled copy)"), out);
        assertTrue(out.contains("native ops: not loaded (SD_NATIVE_OPS is not set)"), out);
        assertTrue(out.contains("CUDA graphs: UNet off (native ops not loaded), VAE decoder off (native ops not loaded); "
                + "channels-last: off"), out);
        // the tiny model (written from the resource manifest) loads through the worker's loader and generates
        assertTrue(out.contains("tiny model, 2 steps, 2 images on the CPU (fp32)"), out);
        if (GpuSetup.probe(true, true, true).driverGpus() == 0) {
            assertEquals(DoctorCommand.NO_GPU, status, out);
            assertTrue(last.startsWith("doctor: no GPU: "), last);
        } else { // a GPU machine running the suite: the bundled libtorch is the CPU one
            assertEquals(DoctorCommand.PROBLEM, status, out);
            assertTrue(last.startsWith("doctor: DJL loaded the CPU libtorch bundled in the jar"), last);
        }
    }

    @Test
    void refusesArguments() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        assertEquals(2, DoctorCommand.run(new String[] {"--model", "x"}, new PrintStream(bytes, true, StandardCharsets.UTF_8)));
        assertTrue(bytes.toString(StandardCharsets.UTF_8).startsWith("doctor: takes no arguments"));
    }
}
