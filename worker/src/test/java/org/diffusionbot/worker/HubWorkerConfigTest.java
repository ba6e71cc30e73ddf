package org.diffusionbot.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.junit.jupiter.api.Test;

/** MODEL_PATH as a Hugging Face repository id (fetched later by RunCommand). */
class HubWorkerConfigTest {
    @Test
    void aRepositoryIdIsAcceptedAndNamesTheModel() {
        WorkerConfig c = WorkerConfig.fromEnv(Env.of(Map.of("MODEL_PATH", "someone/sd-tiny.v1@main")));
        assertEquals(Path.of("someone/sd-tiny.v1@main"), c.modelPath());
        assertEquals("sd-tiny.v1", c.modelName());
    }

    @Test
    void aMissingPathThatIsNoRepositoryIdIsRefused() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> WorkerConfig.fromEnv(Env.of(Map.of("MODEL_PATH", "/nowhere/model.safetensors"))));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
        ConfigException bad = assertThrows(ConfigException.class,
                () -> WorkerConfig.fromEnv(Env.of(Map.of("MODEL_PATH", "someone/sd..x"))));
        assertTrue(bad.getMessage().startsWith("MODEL_PATH: "), bad.getMessage());
    }
}
