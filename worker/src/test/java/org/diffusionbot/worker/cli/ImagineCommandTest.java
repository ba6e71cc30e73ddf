package org.diffusionbot.worker.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code imagine} command end to end, in-process, against reference case pipe0 (single file). */
class ImagineCommandTest {
    @TempDir
    Path tmp;

    @Test
    void writesThePngOfReferenceCasePipe0WithItsParameters() throws Exception {
        Path out = tmp.resolve("astronaut.png");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(new String[] {"--model", TinyModels.singleFilePath().toString(), "--prompt",
            "a photograph of an astronaut riding a horse", "--seed", "100", "--steps", "6", "--cfg", "7.5", "--sampler",
            "ddim", "--width", "128", "--height", "64", "--out", out.toString()},
                new PrintStream(stdout, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        String log = err.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, log);
        assertTrue(log.contains("step 6/6 [##############################]"), log);
        assertTrue(log.contains("generated 1 image(s) in"), log);
        assertEquals(out.toString(), stdout.toString(StandardCharsets.UTF_8).trim());

        byte[] png = Files.readAllBytes(out);
        BufferedImage img = ImageIO.read(out.toFile());
        assertEquals(128, img.getWidth());
        assertEquals(64, img.getHeight());
        RefData.Tensor ref = RefData.tensor("pipe0.image");
        int worst = RefData.worstLevel(img, ref);
        assertTrue(worst <= 1, "differs by " + worst + " levels");
        Map<String, String> text = Png.readText(png);
        assertEquals("a photograph of an astronaut riding a horse\n"
                + "Steps: 6, Sampler: DDIM, CFG scale: 7.5, Seed: 100, Size: 128x64, Model: single-file", text.get("parameters"));
    }

    @Test
    void badArgumentsExitWith2AndOneLine() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(new String[] {"--model", TinyModels.folderPath().toString(), "--prompt", "x",
            "--steps", "500", "--out", tmp.resolve("a.png").toString()}, System.out,
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, rc);
        assertEquals("imagine: steps must be between 1 and 150, got 500\n", err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void countWritesNumberedFiles() throws Exception {
        Path out = tmp.resolve("frog.png");
        int rc = ImagineCommand.run(new String[] {"--model", TinyModels.folderPath().toString(), "--prompt", "frogs",
            "--steps", "2", "--width", "64", "--height", "64", "--count", "2", "--seed", "4294967295", "--out",
            out.toString()}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(new ByteArrayOutputStream()));
        assertEquals(0, rc);
        assertTrue(Png.readText(Files.readAllBytes(tmp.resolve("frog-1.png"))).get("parameters").contains("Seed: 4294967295"));
        assertTrue(Png.readText(Files.readAllBytes(tmp.resolve("frog-2.png"))).get("parameters").contains("Seed: 0,"));
    }

    @Test
    void aSideNotGivenIsTheModelsNativeSize() throws Exception {
        // tiny-sd15's UNet says sample_size 8: its native size is 64x64
        Path out = tmp.resolve("native.png");
        int rc = ImagineCommand.run(new String[] {"--model", TinyModels.folderPath().toString(), "--prompt", "frogs",
            "--steps", "1", "--width", "128", "--out", out.toString()}, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(new ByteArrayOutputStream()));
        assertEquals(0, rc);
        BufferedImage img = ImageIO.read(out.toFile());
        assertEquals(128, img.getWidth());
        assertEquals(64, img.getHeight());
    }

    @Test
    void helpStatesEachFamilysDefaultSizeAndLimit() {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        assertEquals(0, ImagineCommand.run(new String[] {"--help"}, new PrintStream(stdout, true, StandardCharsets.UTF_8),
                System.err));
        String help = stdout.toString(StandardCharsets.UTF_8);
        assertTrue(help.contains("(default: the model's native size: SD 1.x 512x512, SD 2.x 512x512 or 768x768"
                + " (v-prediction), SDXL 1024x1024)"), help);
        assertTrue(help.contains("at most 1024x1024 pixels for SD 1.x and SD 2.x, 2048x2048 pixels for SDXL"), help);
        assertTrue(!help.contains("(default 512)"), help);
    }

    /** The paragraph about sidecar files follows the flag list instead of splitting it. */
    @Test
    void helpListsEveryFlagBeforeTheSidecarParagraph() {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        assertEquals(0, ImagineCommand.run(new String[] {"--help"}, new PrintStream(stdout, true, StandardCharsets.UTF_8),
                System.err));
        String help = stdout.toString(StandardCharsets.UTF_8);
        int sidecar = help.indexOf("A sidecar file next to the model");
        assertTrue(sidecar > 0, help);
        for (String flag : new String[] {"--model", "--sampler", "--schedule", "--width", "--lora-dir", "--out"}) {
            int at = help.indexOf("  " + flag + " ");
            assertTrue(at > 0 && at < sidecar, flag + " before the sidecar paragraph:\n" + help);
        }
        assertTrue(help.substring(sidecar).lines().noneMatch(l -> l.startsWith("  --")), help);
        assertTrue(help.contains("--sampler, --schedule, --steps and --cfg not given (docs/MODELS.md)."), help);
    }
}
