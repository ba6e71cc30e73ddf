package org.diffusionbot.worker.doctor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.diffusionbot.worker.engine.cuda.GpuSetup;
import org.diffusionbot.worker.engine.cuda.NativeOps;
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

    // the figures measured on the H200 (docs/GPU.md): FP8 off against the CPU, and the FP8 paths on (linears, ff.net.2,
    // e4m3 GEGLU intermediate) against the CPU, which FP8 on against off is about
    private static final ImageDiff FP8_OFF_VS_CPU = new ImageDiff(0.3, 3, 56.4);
    private static final ImageDiff FP8_ON_MEASURED = new ImageDiff(1.559, 11, 41.1);
    private static final ImageDiff GARBAGE = new ImageDiff(25, 180, 17.5);

    @Test
    void theFp16BoundTakesFp16RoundingOnlyAndTheFp8BoundTakesTodaysE4m3RoundingButNotGarbage() {
        assertTrue(FP8_OFF_VS_CPU.passes(ImageDiff.FP16_ROUNDING));
        assertFalse(FP8_ON_MEASURED.passes(ImageDiff.FP16_ROUNDING), "beyond fp16 rounding: why the check is split");
        assertTrue(FP8_ON_MEASURED.passes(ImageDiff.FP8_ROUNDING));
        assertTrue(FP8_OFF_VS_CPU.passes(ImageDiff.FP8_ROUNDING));
        assertFalse(GARBAGE.passes(ImageDiff.FP8_ROUNDING), "a broken FP8 kernel's images");
        // the edges: mean at most 4/255 and PSNR at least 30 dB, both needed
        assertTrue(new ImageDiff(4, 40, 30).passes(ImageDiff.FP8_ROUNDING));
        assertFalse(new ImageDiff(4.01, 20, 45).passes(ImageDiff.FP8_ROUNDING), "mean over 4");
        assertFalse(new ImageDiff(2, 60, 29.9).passes(ImageDiff.FP8_ROUNDING), "PSNR under 30 (a few large errors)");
        assertTrue(new ImageDiff(1.5, 8, 35).passes(), "passes() is the fp16 bound");
        assertFalse(new ImageDiff(1.51, 8, 50).passes());
        assertEquals("e4m3 rounding: mean |diff| <= 4/255, PSNR >= 30 dB", ImageDiff.FP8_ROUNDING.toString());
        assertEquals("fp16 rounding: mean |diff| <= 1.5/255, PSNR >= 35 dB", ImageDiff.FP16_ROUNDING.toString());
        assertEquals("mean |diff| 1.559 /255, max 11 /255, PSNR 41.1 dB -> PASS",
                FP8_ON_MEASURED.describe(ImageDiff.FP8_ROUNDING));
        assertEquals("mean |diff| 1.559 /255, max 11 /255, PSNR 41.1 dB -> FAIL", FP8_ON_MEASURED.toString());
    }

    @Test
    void theVerdictNamesTheKernelsThenTheFp16ComparisonThenTheFp8OneThenTheSetup() {
        String kernels = DoctorCommand.advice(false, "9.0", GARBAGE, GARBAGE, "setup");
        assertTrue(kernels.startsWith("the native kernels disagree with PyTorch on this GPU (compute capability 9.0)"),
                kernels);
        String fp16 = DoctorCommand.advice(true, "9.0", FP8_ON_MEASURED, GARBAGE, "setup");
        assertTrue(fp16.startsWith("the GPU's images (FP8 off) differ from the CPU's beyond fp16 rounding (mean |diff| "
                + "1.559 /255"), fp16);
        assertTrue(fp16.endsWith("set SD_NATIVE_OPS= to work around it"), fp16);
        String fp8 = DoctorCommand.advice(true, "9.0", FP8_OFF_VS_CPU, GARBAGE, "setup");
        assertTrue(fp8.startsWith("the GPU's images with the FP8 paths on differ from those with them off beyond e4m3 "
                + "rounding (mean |diff| 25.000 /255, max 180 /255, PSNR 17.5 dB -> FAIL)"), fp8);
        assertTrue(fp8.contains("set SD_FP8_LINEARS=0 SD_FP8_FF_OUT=0 SD_FP8_CONV=0 to work around it"),
                fp8 + " (the FP8 switches on by default; SD_FP8_GEGLU is off unless 1)");
        assertTrue(fp8.contains(NativeOps.fp8Workaround()), "every FP8 switch that is on: " + fp8);
        assertEquals("setup", DoctorCommand.advice(true, "9.0", FP8_OFF_VS_CPU, FP8_ON_MEASURED, "setup"),
                "both pass: the setup's advice");
        assertNull(DoctorCommand.advice(true, "9.0", FP8_OFF_VS_CPU, FP8_ON_MEASURED, null), "all well: OK");
        assertNull(DoctorCommand.advice(true, "9.0", FP8_OFF_VS_CPU, null, null), "FP8 comparison skipped");
    }

    @Test
    void eachComparisonsLineSaysItsBound() {
        assertEquals("  tiny model, 2 steps, CUDA fp16 with FP8 (SD_FP8_LINEARS) vs FP8 off, 4 images: mean |diff| 1.559 "
                + "/255, max 11 /255, PSNR 41.1 dB -> PASS (e4m3 rounding: mean |diff| <= 4/255, PSNR >= 30 dB)",
                DoctorCommand.compared("CUDA fp16 with FP8 (SD_FP8_LINEARS) vs FP8 off", FP8_ON_MEASURED,
                        ImageDiff.FP8_ROUNDING));
    }
}
