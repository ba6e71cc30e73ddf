package org.diffusionbot.worker.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.worker.engine.RefData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every public case of {@code reference/lora} (tiny SD 1.5 and tiny SDXL, LoRAs and textual-inversion
 * embeddings) through {@code worker.jar imagine} (in-process) with the case's standard flags plus its
 * {@code cli} ones ({@code --lora-dir}, {@code --embeddings-dir}): the PNG within one level of
 * diffusers' image, and its {@code parameters} naming the embeddings used ({@code TI hashes}) and
 * the LoRAs applied ({@code Lora hashes}) as AUTOMATIC1111 writes them.
 */
class LoraImagineTest {
    private static final String DIR = "/reference/lora/";

    @TempDir
    Path tmp;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String kind : List.of("sd15", "sdxl")) {
            JsonObject file = RefData.json(DIR + "cases-" + kind + ".json");
            for (JsonElement e : file.getAsJsonArray("pipeline_cases")) {
                JsonObject c = e.getAsJsonObject();
                out.add(Arguments.of(kind + " " + c.get("key").getAsString() + " (" + c.get("prompt").getAsString() + ")",
                        kind, file, c));
            }
        }
        return out.stream();
    }

    static Path dir() throws Exception {
        return Path.of(LoraImagineTest.class.getResource(DIR).toURI());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void pngMatchesDiffusers(String name, String kind, JsonObject file, JsonObject c) throws Exception {
        Path base = dir();
        // the tiny SDXL folder shares the SD 1.5 tokenizer files: TinySdxl assembles it
        Path model = kind.equals("sdxl") ? org.diffusionbot.worker.engine.TinySdxl.folderPath()
                : base.resolve(file.get("model").getAsString()).normalize();
        Path out = tmp.resolve(c.get("key").getAsString() + ".png");
        List<String> args = new ArrayList<>(List.of("--model", model.toString(), "--prompt",
                c.get("prompt").getAsString(), "--negative", c.get("negative_prompt").getAsString(), "--seed",
                c.get("seed").getAsString(), "--steps", c.get("steps").getAsString(), "--cfg",
                c.get("guidance_scale").getAsString(), "--sampler", c.get("scheduler").getAsString(), "--width",
                c.get("width").getAsString(), "--height", c.get("height").getAsString(), "--device", "cpu", "--out",
                out.toString()));
        for (JsonElement e : c.getAsJsonArray("cli")) {
            args.add(e.getAsString()
                    .replace("{LORA_DIR}", base.resolve(file.get("lora_dir").getAsString()).toString())
                    .replace("{EMB_DIR}", base.resolve(file.get("embeddings_dir").getAsString()).toString()));
        }
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(args.toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        String log = err.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, log);

        BufferedImage img = ImageIO.read(out.toFile());
        int w = c.get("width").getAsInt();
        int h = c.get("height").getAsInt();
        assertEquals(w, img.getWidth());
        assertEquals(h, img.getHeight());
        RefData.Tensor ref = RefData.tensorIn(DIR + "reference-" + kind + ".safetensors",
                c.get("key").getAsString() + ".image");
        int worst = RefData.worstLevel(img, ref);
        assertTrue(worst <= 1, name + ": differs by " + worst + " levels");

        String params = Png.readText(Files.readAllBytes(out)).get("parameters");
        if (c.has("embeddings")) {
            for (JsonElement e : c.getAsJsonArray("embeddings")) {
                assertTrue(params.matches("(?s).*TI hashes: \"[^\"]*" + e.getAsString() + ": [0-9a-f]{12}.*"),
                        "TI hashes name " + e.getAsString() + ": " + params);
            }
        } else {
            assertTrue(!params.contains("TI hashes"), params);
        }
        if (c.has("loras")) {
            for (JsonElement e : c.getAsJsonArray("loras")) {
                String l = e.getAsJsonObject().get("name").getAsString();
                assertTrue(params.matches("(?s).*Lora hashes: \"[^\"]*" + l + ": [0-9a-f]{12}.*"), params);
            }
        }
    }

    @Test
    void aLoraTagWithoutALoraFolderFailsSayingSo() throws Exception {
        JsonObject file = RefData.json(DIR + "cases-sd15.json");
        Path model = dir().resolve(file.get("model").getAsString()).normalize();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(new String[] {"--model", model.toString(), "--prompt", "a <lora:style:1> cat",
            "--steps", "1", "--width", "64", "--height", "64", "--out", tmp.resolve("a.png").toString()}, System.out,
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(1, rc);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("imagine: no LoRA folder is set (LORA_DIR; imagine --lora-dir), so"
                + " <lora:style> cannot be used"), err.toString(StandardCharsets.UTF_8));
    }
}
