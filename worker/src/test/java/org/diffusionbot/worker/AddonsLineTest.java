package org.diffusionbot.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import org.diffusionbot.common.messages.WorkerHeartbeat.Addon;
import org.junit.jupiter.api.Test;

/** {@code worker run}'s start-up lines about its LoRA and embeddings folders. */
class AddonsLineTest {
    @Test
    void namesTheFolderItsSettingAndHowManyOfEachFamily() {
        Path dir = Path.of("/models/loras");
        assertEquals("LoRAs: 4 in /models/loras (LORA_DIR): sdxl 2, sd1 1, unknown 1",
                RunCommand.addonsLine("LoRAs", "LORA_DIR", "loras", dir, List.of(new Addon("a", "sdxl"),
                        new Addon("b", "sd1"), new Addon("c", "sdxl"), new Addon("d", "unknown"))));
        assertEquals("embeddings: 0 in /models/embeddings (EMBEDDINGS_DIR)", RunCommand.addonsLine("embeddings",
                "EMBEDDINGS_DIR", "embeddings", Path.of("/models/embeddings"), List.of()));
        assertEquals("embeddings: none (EMBEDDINGS_DIR unset, no MODELS_DIR/embeddings folder)",
                RunCommand.addonsLine("embeddings", "EMBEDDINGS_DIR", "embeddings", null, List.of()));
    }
}
