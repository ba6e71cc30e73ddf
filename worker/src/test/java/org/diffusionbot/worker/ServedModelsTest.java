package org.diffusionbot.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** MODEL_PATH as a list, MODELS_DIR as a folder of checkpoints, MODEL_MEMORY_GB. */
class ServedModelsTest {
    @TempDir
    Path dir;

    private Path file(String name, int bytes) throws Exception {
        Path p = dir.resolve(name);
        Files.createDirectories(p.getParent());
        Files.write(p, new byte[bytes]);
        return p;
    }

    @Test
    void aListOfPathsAndNamedPaths() throws Exception {
        Path a = file("dreamy-v2.safetensors", 10);
        Path b = file("base.safetensors", 10);
        WorkerConfig c = WorkerConfig.fromEnv(Env.of(Map.of("MODEL_PATH", a + " , sd15=" + b + ",someone/sd-tiny")));
        assertEquals(List.of("dreamy-v2", "sd15", "sd-tiny"), List.copyOf(c.models().keySet()));
        assertEquals(b, c.models().get("sd15"));
        assertEquals("dreamy-v2", c.modelName(), "the first model is the worker's own");
        assertEquals(a, c.modelPath());
        assertEquals(0, c.modelMemoryBytes(), "auto");
    }

    @Test
    void everyCheckpointInModelsDirWhenModelPathIsUnset() throws Exception {
        file("b.safetensors", 10);
        file("a-folder/model_index.json", 2);
        file("notes.txt", 1);
        file("owner--repo/abc123/model_index.json", 2); // a hub download is not directly in MODELS_DIR
        file("a.ckpt", 10); // pickles are never loaded
        WorkerConfig c = WorkerConfig.fromEnv(Env.of(Map.of("MODELS_DIR", dir.toString())));
        assertEquals(List.of("a-folder", "b"), List.copyOf(c.models().keySet()));
    }

    /** A dotted or relative MODELS_DIR (the default is ./models) is kept and printed absolute and normalised. */
    @Test
    void foldersAreAbsoluteAndNormalised() throws Exception {
        file("b.safetensors", 10);
        Files.createDirectories(dir.resolve("loras"));
        Files.createDirectories(dir.resolve("embeddings"));
        Path root = dir.toAbsolutePath().normalize();
        String dotted = dir + "/./x/../.";
        WorkerConfig c = WorkerConfig.fromEnv(Env.of(Map.of("MODELS_DIR", dotted)));
        assertEquals(root.resolve("loras"), c.loraDir());
        assertEquals(root.resolve("embeddings"), c.embeddingsDir());
        assertEquals(root.resolve("b.safetensors"), c.modelPath());
        assertEquals("LoRAs: 0 in " + root.resolve("loras") + " (LORA_DIR)",
                RunCommand.addonsLine("LoRAs", "LORA_DIR", "loras", Path.of(dotted, "loras"), List.of()));

        Path cwd = Path.of("").toAbsolutePath();
        assertEquals(cwd.resolve("src/test"), WorkerConfig.fromEnv(Env.of(Map.of("MODELS_DIR", dotted,
                "LORA_DIR", "./src/main/../test/."))).loraDir());
        ConfigException e = assertThrows(ConfigException.class,
                () -> WorkerConfig.fromEnv(Env.of(Map.of("MODELS_DIR", "./no-such/../models-here"))));
        assertTrue(e.getMessage().startsWith("MODEL_PATH is not set and MODELS_DIR (" + cwd.resolve("models-here")
                + ") holds no checkpoint"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> WorkerConfig.fromEnv(Env.of(Map.of("MODELS_DIR", dotted,
                "EMBEDDINGS_DIR", "./no-such/../embeddings-here"))));
        assertTrue(e.getMessage().startsWith("EMBEDDINGS_DIR points at " + cwd.resolve("embeddings-here") + ", "),
                e.getMessage());
    }

    @Test
    void mistakesNameTheSetting() throws Exception {
        Path a = file("a.safetensors", 10);
        Path b = file("b.safetensors", 10);
        assertMessage("MODEL_NAME names one model, and this worker serves 2",
                Map.of("MODEL_PATH", a + "," + b, "MODEL_NAME", "x"));
        assertMessage("MODEL_PATH: two models are named 'x'", Map.of("MODEL_PATH", "x=" + a + ",x=" + b));
        assertMessage("MODEL_PATH has an empty entry", Map.of("MODEL_PATH", a + ",,"));
        assertMessage("MODEL_PATH points at", Map.of("MODEL_PATH", a + ",/nowhere/c.safetensors"));
        assertMessage("MODEL_PATH: model name", Map.of("MODEL_PATH", "bad name!=" + a));
        assertMessage("MODEL_PATH is not set and MODELS_DIR", Map.of("MODELS_DIR", dir.resolve("empty").toString()));
        assertMessage("MODEL_MEMORY_GB must be a positive number", Map.of("MODEL_PATH", a.toString(), "MODEL_MEMORY_GB", "lots"));
        assertMessage("MODEL_MEMORY_GB must be a positive number", Map.of("MODEL_PATH", a.toString(), "MODEL_MEMORY_GB", "0"));
        assertEquals(7L << 29, WorkerConfig.fromEnv(Env.of(Map.of("MODEL_PATH", a.toString(), "MODEL_MEMORY_GB", "3.5")))
                .modelMemoryBytes());
    }

    @Test
    void theSizeEstimateCountsSafetensorsFiles() throws Exception {
        Path single = file("one.safetensors", 1000);
        file("folder/unet/diffusion_pytorch_model.safetensors", 300);
        file("folder/vae/diffusion_pytorch_model.safetensors", 200);
        file("folder/unet/config.json", 50);
        assertEquals(1000, ServedModels.estimatedBytes(single));
        assertEquals(500, ServedModels.estimatedBytes(dir.resolve("folder")));
        assertEquals(0, ServedModels.estimatedBytes(dir.resolve("not-downloaded")));
    }

    private static void assertMessage(String start, Map<String, String> env) {
        ConfigException e = assertThrows(ConfigException.class, () -> WorkerConfig.fromEnv(Env.of(env)));
        assertTrue(e.getMessage().startsWith(start) || e.getMessage().contains(start), e.getMessage());
    }
}
