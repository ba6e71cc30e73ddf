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

    /** A model that cannot run jobs (an inpainting UNet), even one not loaded at start, stops the worker before it announces any. */
    @Test
    void anInpaintingModelStopsTheWorkerBeforeAnyModelIsAnnounced(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        String convIn = "model.diffusion_model.input_blocks.0.0.weight";
        org.diffusionbot.worker.engine.io.SafetensorsWriter w = new org.diffusionbot.worker.engine.io.SafetensorsWriter();
        try (org.diffusionbot.worker.engine.io.Weights all = org.diffusionbot.worker.engine.io.Weights.open(
                java.nio.file.Path.of("src/test/resources/reference/tiny-sd15/single-file.safetensors"))) {
            for (String n : all.names()) {
                org.diffusionbot.worker.engine.io.TensorView v = all.get(n);
                if (n.equals(convIn)) {
                    long[] shape = v.shape().getShape().clone();
                    shape[1] = 9;
                    w.add(n, v.dtype().name(), shape, new byte[(int) (v.byteSize() / 4 * 9)]);
                } else {
                    w.add(n, v);
                }
            }
        }
        java.nio.file.Path inpaint = w.write(dir.resolve("inpaint.safetensors"));
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
        int code;
        try {
            code = RunCommand.run(Env.of(Map.of("MODEL_PATH", "tiny=" + TINY + ",inpaint=" + inpaint, "DEVICE", "cpu",
                    "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/%2F")));
        } finally {
            System.setErr(err);
        }
        assertEquals(2, code);
        String out = captured.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(out.contains("worker: MODEL_PATH: " + inpaint + ": this is an inpainting model"), out);
    }

    /** A malformed sidecar of a model found in MODELS_DIR is blamed on MODELS_DIR and the file, not on MODEL_PATH. */
    @Test
    void aBadSidecarInModelsDirIsBlamedOnModelsDirAndTheFile(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Files.copy(java.nio.file.Path.of("src/test/resources/reference/tiny-sd15/single-file.safetensors"),
                dir.resolve("tiny.safetensors"));
        java.nio.file.Path sidecar = java.nio.file.Files.writeString(dir.resolve("tiny.json"), "{\"sampler\": \"euler\", \"step\": 4}");
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
        int code;
        try {
            code = RunCommand.run(Env.of(Map.of("MODELS_DIR", dir.toString(), "DEVICE", "cpu",
                    "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/%2F")));
        } finally {
            System.setErr(err);
        }
        assertEquals(2, code);
        String out = captured.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(out.contains("worker: MODELS_DIR: " + sidecar.toAbsolutePath().normalize() + ": unknown key 'step'"), out);
    }
}
