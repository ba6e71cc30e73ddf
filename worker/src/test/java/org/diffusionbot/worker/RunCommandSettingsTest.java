package org.diffusionbot.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.junit.jupiter.api.Test;

/** {@code worker run}'s start-up errors name the setting to change (this machine has no GPU). */
class RunCommandSettingsTest {
    private static final String TINY = "src/test/resources/reference/tiny-sd15/model";

    @Test
    void aGpuThatIsNotThereIsBlamedOnDevice() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> RunCommand.run(Env.of(Map.of("MODEL_PATH", TINY, "DEVICE", "gpu"))));
        assertTrue(e.getMessage().startsWith("DEVICE=gpu: ") && e.getMessage().contains("no CUDA device"), e.getMessage());
    }

    @Test
    void anUnknownPredictionTypeIsBlamedOnPredictionType() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> RunCommand.run(Env.of(Map.of("MODEL_PATH", TINY, "DEVICE", "cpu", "PREDICTION_TYPE", "v"))));
        assertTrue(e.getMessage().startsWith("PREDICTION_TYPE must be one of auto, epsilon, v_prediction"), e.getMessage());
    }

    @Test
    void anUnknownDeviceIsBlamedOnDevice() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> RunCommand.run(Env.of(Map.of("MODEL_PATH", TINY, "DEVICE", "cuda"))));
        assertTrue(e.getMessage().startsWith("DEVICE must be one of auto, cpu, gpu"), e.getMessage());
    }

    @Test
    void aMissingSafetyCheckerIsBlamedOnItsSetting() {
        ConfigException e = assertThrows(ConfigException.class, () -> RunCommand.run(Env.of(Map.of("MODEL_PATH", TINY,
                "DEVICE", "cpu", "SAFETY_CHECKER_PATH", "no/such/checker"))));
        assertTrue(e.getMessage().startsWith("SAFETY_CHECKER_PATH points at "), e.getMessage());
    }

    @Test
    void aPickledSafetyCheckerStopsTheWorkerBeforeItTakesJobs(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path ckpt = java.nio.file.Files.write(dir.resolve("checker.ckpt"), new byte[] {1});
        assertEquals(2, RunCommand.run(Env.of(Map.of("MODEL_PATH", TINY, "DEVICE", "cpu",
                "SAFETY_CHECKER_PATH", ckpt.toString(), "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/%2F"))));
    }
}
