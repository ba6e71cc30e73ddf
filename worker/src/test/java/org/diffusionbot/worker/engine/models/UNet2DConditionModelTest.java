package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.List;
import java.util.stream.Stream;
import org.diffusionbot.worker.engine.io.Weights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The UNet matches diffusers' UNet2DConditionModel on the tiny model. */
class UNet2DConditionModelTest {
    private static NDManager models;
    private static UNet2DConditionModel unet;

    @BeforeAll
    static void load() {
        models = NDManager.newBaseManager(Device.cpu());
        UNetConfig cfg = UNetConfig.load(ReferenceData.modelDir().resolve("unet/config.json"));
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            unet = new UNet2DConditionModel(cfg, w, models, DataType.FLOAT32, Device.cpu());
            w.verify();
        }
    }

    @AfterAll
    static void close() {
        models.close();
    }

    static Stream<String> cases() {
        List<String> names = ReferenceData.names().stream()
                .filter(n -> n.startsWith("unet") && n.endsWith(".out"))
                .map(n -> n.substring(0, n.length() - 4))
                .sorted()
                .toList();
        assertFalse(names.isEmpty());
        return names.stream();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void matchesDiffusers(String c) {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray out = unet.forward(m, ReferenceData.load(m, c + ".sample"), ReferenceData.load(m, c + ".timestep"),
                    ReferenceData.load(m, c + ".context"));
            assertEquals(m, out.getManager());
            ReferenceData.assertClose(ReferenceData.load(m, c + ".out"), out, c);
        }
    }

    @Test
    void memoryIsFlatOverCalls() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray sample = ReferenceData.load(m, "unet0.sample");
            NDArray t = ReferenceData.load(m, "unet0.timestep");
            NDArray ctx = ReferenceData.load(m, "unet0.context");
            unet.forward(m, sample, t, ctx).close();
            int weights = models.getManagedArrays().size();
            int caller = m.getManagedArrays().size();
            for (int i = 0; i < 3; i++) {
                unet.forward(m, sample, t, ctx).close();
            }
            assertEquals(weights, models.getManagedArrays().size(), "arrays in the model's manager");
            assertEquals(caller, m.getManagedArrays().size(), "arrays in the caller's manager");
            assertEquals(m, sample.getManager(), "inputs are returned to the caller");
        }
    }
}
