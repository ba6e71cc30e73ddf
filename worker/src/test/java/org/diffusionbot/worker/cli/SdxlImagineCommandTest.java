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
import org.diffusionbot.worker.engine.TinySdxl;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every tiny-sdxl reference case through {@code worker.jar imagine} ({@link ImagineCommand#run},
 * in-process), for the diffusers folder and the single file: the PNG within one 8-bit level of
 * diffusers' image, with the case's standard arguments plus its {@code cli} field.
 */
class SdxlImagineCommandTest {
    @TempDir
    Path tmp;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String layout : List.of("folder", "single-file")) {
            for (JsonElement e : RefData.json("/reference/tiny-sdxl/cases.json").getAsJsonArray("pipeline_cases")) {
                JsonObject c = e.getAsJsonObject();
                out.add(Arguments.of(layout, c.get("key").getAsString() + " " + c.get("scheduler").getAsString(), c));
            }
        }
        assertEquals(16, out.size());
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void imagineWritesDiffusersImage(String layout, String name, JsonObject c) throws Exception {
        Path model = layout.equals("folder") ? TinySdxl.folderPath() : TinySdxl.singleFilePath();
        Path png = tmp.resolve("out.png");
        List<String> args = new ArrayList<>(List.of("--model", model.toString(), "--prompt", c.get("prompt").getAsString(),
                "--negative", c.get("negative_prompt").getAsString(), "--seed", c.get("seed").getAsString(),
                "--steps", c.get("steps").getAsString(), "--cfg", c.get("guidance_scale").getAsString(),
                "--sampler", c.get("scheduler").getAsString(), "--width", c.get("width").getAsString(),
                "--height", c.get("height").getAsString(), "--device", "cpu", "--out", png.toString()));
        c.getAsJsonArray("cli").forEach(a -> args.add(a.getAsString()));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(args.toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, rc, err.toString(StandardCharsets.UTF_8));

        BufferedImage img = ImageIO.read(png.toFile());
        RefData.Tensor ref = RefData.tensor("tiny-sdxl", c.get("key").getAsString() + ".image");
        int h = (int) ref.shape()[0];
        int w = (int) ref.shape()[1];
        assertEquals(w, img.getWidth());
        assertEquals(h, img.getHeight());
        int worst = RefData.worstLevel(img, ref);
        assertTrue(worst <= 1, name + " (" + layout + "): an 8-bit channel differs by " + worst + " levels");
    }
}
