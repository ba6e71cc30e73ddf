package org.diffusionbot.worker.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.diffusionbot.common.messages.WorkerHeartbeat.Addon;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.io.HeaderPadding;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.lora.AddonCatalog;
import org.diffusionbot.worker.engine.lora.ModelFolder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 12's first fault: real safetensors files whose header length has 0x80 (a pickle's first
 * byte) as its low byte are safetensors, whatever they hold. A model, a separate VAE, a LoRA and two
 * embeddings framed so pass the worker's start-up check ({@link ModelLoader#check}), are announced
 * ({@link AddonCatalog}) and give, through {@code worker.jar imagine}, the same PNG as the files
 * unpadded (and diffusers' image for the reference case within one level).
 */
class HeaderFramingImagineTest {
    private static final String DIR = "/reference/lora/";

    @TempDir
    Path tmp;

    @Test
    void filesWhoseHeaderLengthEndsIn0x80LoadEverywhere() throws Exception {
        Path base = Path.of(getClass().getResource(DIR).toURI());
        Path loras = Files.createDirectories(tmp.resolve("loras"));
        Path embeddings = Files.createDirectories(tmp.resolve("embeddings"));
        Path model = HeaderPadding.padTo0x80(TinyModels.singleFilePath(), tmp.resolve("model.safetensors"));
        Path vae = HeaderPadding.padTo0x80(TinyModels.folderPath().resolve("vae/diffusion_pytorch_model.safetensors"),
                tmp.resolve("vae.safetensors"));
        HeaderPadding.padTo0x80(base.resolve("loras/sd15_peft.safetensors"), loras.resolve("sd15_peft.safetensors"));
        for (String e : List.of("tinystyle", "tinyneg")) {
            HeaderPadding.padTo0x80(base.resolve("embeddings/" + e + ".safetensors"), embeddings.resolve(e + ".safetensors"));
        }

        assertEquals("SD1 single file", ModelLoader.check(model, new ModelLoader.Options(null, null, vae)).summary());
        AddonCatalog catalog = new AddonCatalog(new ModelFolder(loras, "LoRA"), new ModelFolder(embeddings, "embedding"));
        AddonCatalog unpadded = new AddonCatalog(new ModelFolder(base.resolve("loras"), "LoRA"),
                new ModelFolder(base.resolve("embeddings"), "embedding"));
        assertEquals(unpadded.loras().stream().filter(a -> a.name().equals("sd15_peft")).toList(), catalog.loras());
        assertEquals(unpadded.embeddings().stream().filter(a -> a.name().startsWith("tiny")).toList(), catalog.embeddings());
        assertEquals(List.of("tinyneg", "tinystyle"), catalog.embeddings().stream().map(Addon::name).toList());

        // reference case pipe8: a LoRA and two embeddings
        Path padded = imagine(model, vae, loras, embeddings, tmp.resolve("padded.png"));
        Path plain = imagine(TinyModels.singleFilePath(), TinyModels.folderPath().resolve("vae"),
                base.resolve("loras"), base.resolve("embeddings"), tmp.resolve("plain.png"));
        BufferedImage a = ImageIO.read(padded.toFile());
        BufferedImage b = ImageIO.read(plain.toFile());
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                assertEquals(b.getRGB(x, y), a.getRGB(x, y), "pixel " + x + "," + y);
            }
        }
        int worst = RefData.worstLevel(a, RefData.tensorIn(DIR + "reference-sd15.safetensors", "pipe8.image"));
        assertTrue(worst <= 1, "differs from diffusers by " + worst + " levels");
    }

    private static Path imagine(Path model, Path vae, Path loras, Path embeddings, Path out) {
        List<String> args = new ArrayList<>(List.of("--model", model.toString(), "--vae", vae.toString(),
                "--prompt", "tinystyle portrait of a cat <lora:sd15_peft:0.7>", "--negative", "tinyneg",
                "--seed", "708", "--steps", "5", "--cfg", "6.0", "--sampler", "ddim", "--width", "64", "--height", "64",
                "--device", "cpu", "--lora-dir", loras.toString(), "--embeddings-dir", embeddings.toString(),
                "--out", out.toString()));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = ImagineCommand.run(args.toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, rc, err.toString(StandardCharsets.UTF_8));
        return out;
    }
}
