package org.diffusionbot.worker.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.TinyModels;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every pipeline case of {@code tiny-sd15/cases.json} (all 15 samplers' cases, euler_a included) through
 * {@code worker.jar imagine}, for the diffusers folder and the single file: the PNG is within one
 * level per channel of diffusers' image.
 */
class ImagineReferenceCasesTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("org.diffusionbot.worker.engine.pipeline.PipelineReferenceTest#cases") // the same 30 cases
    void imagineMatchesDiffusers(String layout, String name, JsonObject c) throws Exception {
        Path model = layout.equals("folder") ? TinyModels.folderPath() : TinyModels.singleFilePath();
        Path out = tmp.resolve("case.png");
        int w = c.get("width").getAsInt();
        int h = c.get("height").getAsInt();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(new String[] {"--model", model.toString(), "--prompt", c.get("prompt").getAsString(),
            "--negative", c.get("negative_prompt").getAsString(), "--seed", c.get("seed").getAsString(), "--steps",
            c.get("steps").getAsString(), "--cfg", c.get("guidance_scale").getAsString(), "--sampler",
            c.get("scheduler").getAsString(), "--width", Integer.toString(w), "--height", Integer.toString(h),
            "--device", "cpu", "--out", out.toString()}, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, rc, err.toString(StandardCharsets.UTF_8));
        BufferedImage img = ImageIO.read(out.toFile());
        assertEquals(w, img.getWidth());
        assertEquals(h, img.getHeight());
        RefData.Tensor ref = RefData.tensor(c.get("key").getAsString() + ".image");
        int worst = RefData.worstLevel(img, ref);
        assertTrue(worst <= 1, name + " (" + layout + "): an 8-bit channel differs by " + worst + " levels");
    }
}
