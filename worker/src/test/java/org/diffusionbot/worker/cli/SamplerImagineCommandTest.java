package org.diffusionbot.worker.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.schedulers.SamplerReferenceTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every case of {@code tiny-sd15/cases-samplers.json} through {@code worker.jar imagine} (in-process)
 * with the case's standard flags plus its {@code cli} ones (e.g. {@code --schedule trailing}): the
 * PNG within one level of diffusers' image.
 */
class SamplerImagineCommandTest {
    @TempDir
    Path tmp;

    static Stream<Arguments> cases() {
        return SamplerReferenceTest.cases();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void pngMatchesDiffusers(String name, JsonObject c) throws Exception {
        Path out = tmp.resolve(c.get("key").getAsString() + ".png");
        List<String> args = new ArrayList<>(List.of("--model", TinyModels.folderPath().toString(), "--prompt",
                c.get("prompt").getAsString(), "--negative", c.get("negative_prompt").getAsString(), "--seed",
                c.get("seed").getAsString(), "--steps", c.get("steps").getAsString(), "--cfg",
                c.get("guidance_scale").getAsString(), "--sampler", c.get("scheduler").getAsString(), "--width",
                c.get("width").getAsString(), "--height", c.get("height").getAsString(), "--device", "cpu", "--out",
                out.toString()));
        for (JsonElement e : c.getAsJsonArray("cli")) {
            args.add(e.getAsString());
        }
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(args.toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        String log = err.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, log);
        int calls = c.get("unet_evaluations").getAsInt();
        String label = calls == c.get("steps").getAsInt() ? "step" : "model call";
        assertTrue(log.contains(label + " " + calls + "/" + calls + " ["), log);

        BufferedImage img = ImageIO.read(out.toFile());
        assertEquals(c.get("width").getAsInt(), img.getWidth());
        assertEquals(c.get("height").getAsInt(), img.getHeight());
        int worst = worstLevel(out, c);
        assertTrue(worst <= 1, name + ": differs by " + worst + " levels");
    }

    /**
     * A sidecar file beside the checkpoint supplies sampler, schedule, steps and cfg: with only the prompt,
     * seed and size, {@code imagine} makes case pipe6 (euler, trailing, 6 steps, cfg 7.5) and writes them as A1111.
     */
    @Test
    void aSidecarFileFillsTheFlagsNotGiven() throws Exception {
        JsonObject c = SamplerReferenceTest.caseList().get(6);
        assertEquals("euler", c.get("scheduler").getAsString());
        Path ckpt = java.nio.file.Files.createSymbolicLink(tmp.resolve("frog-lightning.safetensors"),
                TinyModels.singleFilePath().toAbsolutePath());
        java.nio.file.Files.writeString(tmp.resolve("frog-lightning.yaml"),
                "sampler: euler\nschedule: trailing\nsteps: 6\ncfg: 7.5\n");
        Path out = tmp.resolve("frog.png");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(new String[] {"--model", ckpt.toString(), "--prompt", c.get("prompt").getAsString(),
            "--seed", c.get("seed").getAsString(), "--width", "64", "--height", "64", "--out", out.toString()},
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, rc, err.toString(StandardCharsets.UTF_8));
        int worst = worstLevel(out, c);
        assertTrue(worst <= 1, "differs from pipe6 by " + worst + " levels");
        String params = org.diffusionbot.common.image.Png.readText(java.nio.file.Files.readAllBytes(out)).get("parameters");
        assertTrue(params.contains("Steps: 6, Sampler: Euler, Schedule type: SGM Uniform, CFG scale: 7.5, Seed: 306,"),
                params);
    }

    private static int worstLevel(Path png, JsonObject c) throws java.io.IOException {
        BufferedImage img = ImageIO.read(png.toFile());
        RefData.Tensor ref = RefData.tensorIn(SamplerReferenceTest.TENSORS, c.get("key").getAsString() + ".image");
        return RefData.worstLevel(img, ref); // also refuses an image of another size than the case's
    }

    @Test
    void refusesAScheduleTheSamplerDoesNotTakeAndLcmPast50Steps() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(new String[] {"--model", TinyModels.folderPath().toString(), "--prompt", "x",
            "--sampler", "euler_a", "--schedule", "karras", "--out", tmp.resolve("a.png").toString()}, System.out,
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, rc);
        assertEquals("imagine: sampler euler_a cannot use schedule karras (it takes default, trailing)\n",
                err.toString(StandardCharsets.UTF_8));
        err.reset();
        rc = ImagineCommand.run(new String[] {"--model", TinyModels.folderPath().toString(), "--prompt", "x",
            "--sampler", "lcm", "--steps", "60", "--out", tmp.resolve("a.png").toString()}, System.out,
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, rc);
        assertEquals("imagine: sampler lcm takes at most 50 steps, got 60\n", err.toString(StandardCharsets.UTF_8));
        err.reset();
        rc = ImagineCommand.run(new String[] {"--model", TinyModels.folderPath().toString(), "--prompt", "x",
            "--schedule", "uniform", "--out", tmp.resolve("a.png").toString()}, System.out,
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, rc);
        assertEquals("imagine: unknown schedule 'uniform'; choose one of default, karras, exponential, trailing\n",
                err.toString(StandardCharsets.UTF_8));
    }
}
