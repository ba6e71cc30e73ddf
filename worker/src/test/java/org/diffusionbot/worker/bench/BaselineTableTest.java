package org.diffusionbot.worker.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bench's table reads bench_diffusers.py's output, with and without the torch.compile baseline. */
class BaselineTableTest {
    /** What scripts/gpu/bench_diffusers.py prints with COMPILE=1 (figures of a made-up run). */
    static final String SD15_COMPILED = """
            init s 2.6
            {"unet_flops_batch2_64x64": 1607000000000, "vae_decode_flops_512": 2510000000000, "text_encoder_flops": 13079937024}
            {"unet_call_ms_batch2": 37.2, "unet_call_ms_batch4": 30.1, "unet_call_ms_batch8": 31.0, "unet_call_ms_batch16": 50.1}
            {"pipe_30steps_512_images1_s": 1.294, "pipe_30steps_512_images1_img_per_s": 0.773, \
            "pipe_30steps_512_images4_s": 1.254, "pipe_30steps_512_images4_img_per_s": 3.19, \
            "pipe_30steps_512_images8_s": 1.691, "pipe_30steps_512_images8_img_per_s": 4.73}
            peak_mem_gb 6.06
            compile_mode reduce-overhead
            {"compiled_warmup_s_unet_batch2": 61.7}
            {"compiled_warmup_s_unet_batch16": 38.2}
            {"compiled_unet_call_ms_batch2": 12.5, "compiled_unet_call_ms_batch16": 36.0}
            {"compiled_warmup_s_pipe_images1": 41.5, "compiled_pipe_30steps_512_images1_s": 0.457, \
            "compiled_pipe_30steps_512_images1_img_per_s": 2.188, "compiled_warmup_s_pipe_images8": 30.3, \
            "compiled_pipe_30steps_512_images8_s": 1.268, "compiled_pipe_30steps_512_images8_img_per_s": 6.31, \
            "compiled_peak_mem_gb": 7.5}
            compiled baseline s 250.1
            """;

    @TempDir
    Path tmp;

    @Test
    void theCompiledBaselineIsAColumnOfItsOwnWithRatios() throws Exception {
        Path out = tmp.resolve("diffusers.txt");
        Files.writeString(out, SD15_COMPILED);
        Map<String, Double> d = BaselineTable.figures(out);
        assertEquals(50.1, d.get("unet_call_ms_batch16"));
        assertEquals(6.06, d.get("peak_mem_gb"));
        assertEquals(6.31, d.get("compiled_pipe_30steps_512_images8_img_per_s"));
        assertEquals(7.5, d.get("compiled_peak_mem_gb"));
        assertEquals(61.7, d.get("compiled_warmup_s_unet_batch2"));
        String table = new BaselineTable("figure", d, BaselineTable.compileMode(out), "")
                .row("one UNet call, batch 16 (ms)", "40.6", "unet_call_ms_batch16")
                .row("one UNet call, batch 8 (ms)", "22.2", "unet_call_ms_batch8")
                .row("8 concurrent jobs (images/s)", "5.71", "pipe_30steps_512_images8_img_per_s")
                .row("peak (GiB)", "4.84", "peak_mem_gb")
                .row("previews (%)", "0.73", null)
                .row("memory after job 1 / 200 (GiB)", "2.609 / 2.609", "peak_mem_gb")
                .toString();
        assertEquals("""
                | figure | worker (Java, DJL) | diffusers eager | worker / diffusers | diffusers + torch.compile \
                (reduce-overhead) | worker / compiled |
                | --- | --- | --- | --- | --- | --- |
                | one UNet call, batch 16 (ms) | 40.6 | 50.1 | 0.81 | 36 | 1.13 |
                | one UNet call, batch 8 (ms) | 22.2 | 31 | 0.72 | – |  |
                | 8 concurrent jobs (images/s) | 5.71 | 4.73 | 1.21 | 6.31 | 0.90 |
                | peak (GiB) | 4.84 | 6.06 | 0.80 | 7.5 | 0.65 |
                | previews (%) | 0.73 | – |  | – |  |
                | memory after job 1 / 200 (GiB) | 2.609 / 2.609 | 6.06 |  | 7.5 |  |
                """, table);
    }

    @Test
    void withoutTheCompiledBaselineTheTableKeepsFourColumns() throws Exception {
        Path out = tmp.resolve("diffusers.txt");
        Files.writeString(out, SD15_COMPILED.substring(0, SD15_COMPILED.indexOf("compile_mode")));
        assertNull(BaselineTable.compileMode(out));
        assertNull(BaselineTable.compileMode(tmp.resolve("missing.txt")));
        String table = new BaselineTable("figure", BaselineTable.figures(out), BaselineTable.compileMode(out), "")
                .row("one image end to end (s)", "0.331", "pipe_30steps_512_images1_s").toString();
        assertEquals("""
                | figure | worker (Java, DJL) | diffusers eager | worker / diffusers |
                | --- | --- | --- | --- |
                | one image end to end (s) | 0.331 | 1.294 | 0.26 |
                """, table);
    }

    @Test
    void sdxlFiguresCarryTheirPrefixAndTheModeLineItsVaeNote() throws Exception {
        Path out = tmp.resolve("diffusers_sdxl.txt");
        Files.writeString(out, """
                {"sdxl_unet_call_ms_batch2": 80.19, "sdxl_unet_call_ms_batch8": 250.0}
                sdxl_peak_mem_gb 22.78
                compile_mode reduce-overhead (VAE decode: default)
                {"sdxl_compiled_unet_call_ms_batch2": 50.0, "sdxl_compiled_unet_call_ms_batch8": 200.0}
                {"sdxl_compiled_pipe_30steps_1024_images1_s": 1.6, "sdxl_compiled_peak_mem_gb": 25.0}
                """);
        String table = new BaselineTable("figure", BaselineTable.figures(out), BaselineTable.compileMode(out), "sdxl_")
                .row("one UNet call, batch 2 (ms)", "35.9", "unet_call_ms_batch2")
                .row("peak (GiB)", "17.12", "peak_mem_gb").toString();
        assertEquals("""
                | figure | worker (Java, DJL) | diffusers eager | worker / diffusers | diffusers + torch.compile \
                (reduce-overhead (VAE decode: default)) | worker / compiled |
                | --- | --- | --- | --- | --- | --- |
                | one UNet call, batch 2 (ms) | 35.9 | 80.19 | 0.45 | 50 | 0.72 |
                | peak (GiB) | 17.12 | 22.78 | 0.75 | 25 | 0.68 |
                """, table);
    }
}
