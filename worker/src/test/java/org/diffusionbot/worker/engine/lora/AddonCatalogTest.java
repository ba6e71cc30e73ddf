package org.diffusionbot.worker.engine.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.diffusionbot.common.messages.WorkerHeartbeat.Addon;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a worker announces of its LoRA and embeddings folders: names and families from the files' headers. */
class AddonCatalogTest {
    @TempDir
    Path tmp;

    @Test
    void namesAndFamiliesOfTheReferenceFilesAndFilesAddedLater() throws Exception {
        Path loras = Files.createDirectories(tmp.resolve("loras"));
        for (String n : List.of("sd15_kohya", "sdxl_kohya")) {
            Files.copy(LoraFixtures.lora(n), loras.resolve(n + ".safetensors"));
        }
        Files.writeString(loras.resolve("pickled.ckpt"), "no");
        Files.writeString(loras.resolve("broken.safetensors"), "not a safetensors file");
        AddonCatalog catalog = new AddonCatalog(new ModelFolder(loras, "LoRA"),
                new ModelFolder(LoraFixtures.dir().resolve("embeddings"), "embedding"));
        assertEquals(List.of(new Addon("sd15_kohya", "sd1"), new Addon("sdxl_kohya", "sdxl")), catalog.loras(),
                "pickles and unreadable files are not announced");
        assertEquals(List.of(new Addon("tinyneg", "unknown"), new Addon("tinystyle", "unknown"),
                new Addon("xlneg", "sdxl"), new Addon("xlstyle", "sdxl")), catalog.embeddings(),
                "the tiny model's 32-wide embeddings fit no real family");
        Files.copy(LoraFixtures.lora("sd15_peft"), loras.resolve("Late Style.safetensors"));
        assertEquals("Late Style", catalog.loras().get(0).name(), "a file added while the worker runs");
        assertEquals(List.of(), new AddonCatalog(null, null).embeddings());
    }
}
