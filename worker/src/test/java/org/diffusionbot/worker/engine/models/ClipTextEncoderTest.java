package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.diffusionbot.worker.engine.io.Weights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The CLIP text encoder matches transformers' CLIPTextModel on the tiny model. */
class ClipTextEncoderTest {
    private static NDManager models;
    private static ClipTextEncoder encoder;

    @BeforeAll
    static void load() {
        models = NDManager.newBaseManager(Device.cpu());
        ClipTextConfig cfg = ClipTextConfig.load(ReferenceData.modelDir().resolve("text_encoder/config.json"));
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("text_encoder/model.safetensors"))) {
            encoder = new ClipTextEncoder(cfg, w, models, DataType.FLOAT32, Device.cpu());
            w.verify();
        }
    }

    @AfterAll
    static void close() {
        models.close();
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2})
    void matchesTransformers(int i) {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray ids = ReferenceData.load(m, "text" + i + ".ids");
            NDArray last = encoder.encode(m, ids);
            assertEquals(m, last.getManager());
            ReferenceData.assertClose(ReferenceData.load(m, "text" + i + ".last_hidden_state"), last, "text" + i + " last");
            NDArray pen = encoder.encode(m, ids, 2);
            ReferenceData.assertClose(ReferenceData.load(m, "text" + i + ".penultimate_normed"), pen, "text" + i + " penultimate");
        }
    }
}
