package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonElement;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.TinySdxl;
import org.diffusionbot.worker.engine.text.ClipTokenizer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * SDXL's components match diffusers/transformers on the tiny SDXL model, loaded from the diffusers
 * folder and from the single file (SGM UNet names, OpenCLIP text encoder 2): both tokenizers, both
 * encoders' {@code hidden_states[-2]} and last hidden states, the pooled {@code text_embeds}, the
 * UNet with added conditioning (pooled embedding + time ids), the VAE.
 */
class SdxlComponentsTest {
    private static final String MODEL = "tiny-sdxl";
    private static final Map<String, StableDiffusionPipeline> LOADED = new ConcurrentHashMap<>();

    static StableDiffusionPipeline model(String layout) {
        return LOADED.computeIfAbsent(layout, l -> ModelLoader.load(
                l.equals("folder") ? TinySdxl.folderPath() : TinySdxl.singleFilePath(), DataType.FLOAT32, Device.cpu()));
    }

    static Stream<Arguments> texts() {
        List<Arguments> out = new ArrayList<>();
        for (JsonElement c : RefData.json("/reference/tiny-sdxl/cases.json").getAsJsonArray("component_cases")) {
            for (String layout : List.of("folder", "single-file")) {
                out.add(Arguments.of(layout, c.getAsJsonObject().get("index").getAsInt(),
                        c.getAsJsonObject().get("prompt").getAsString()));
            }
        }
        return out.stream();
    }

    static Stream<Arguments> unets() {
        return Stream.of("folder", "single-file").flatMap(l -> ReferenceData.names(MODEL).stream()
                .filter(n -> n.startsWith("unet") && n.endsWith(".out"))
                .map(n -> Arguments.of(l, n.substring(0, n.length() - 4))));
    }

    static Stream<String> layouts() {
        return Stream.of("folder", "single-file");
    }

    private static NDArray ref(NDManager m, String name) {
        return ReferenceData.load(m, MODEL, name);
    }

    @ParameterizedTest
    @MethodSource("texts")
    void tokenizersMatchTransformers(String layout, int i, String prompt) throws Exception {
        Path dir = TinySdxl.folderPath();
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            ClipTokenizer t1 = ClipTokenizer.fromDirectory(dir.resolve("tokenizer"));
            ClipTokenizer t2 = ClipTokenizer.fromDirectory(dir.resolve("tokenizer_2"));
            assertEquals(0, t2.padId(), "tokenizer_2 pads with '!'");
            assertArrayEquals(ids(ref(m, "text" + i + ".ids")), t1.encode(prompt).ids());
            assertArrayEquals(ids(ref(m, "text" + i + ".ids_2")), t2.encode(prompt).ids());
        }
    }

    private static int[] ids(NDArray a) {
        float[] f = a.toFloatArray();
        int[] out = new int[f.length];
        for (int k = 0; k < f.length; k++) {
            out[k] = (int) f[k];
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("texts")
    void textEncodersMatchTransformers(String layout, int i, String prompt) {
        StableDiffusionModels models = model(layout).models();
        String p = "text" + i + ".";
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray ids = ref(m, p + "ids");
            NDArray ids2 = ref(m, p + "ids_2");
            ClipTextEncoder.Hidden h1 = models.textEncoder().encodeHidden(m, ids, 1, false);
            ClipTextEncoder.Hidden h2 = models.textEncoder2().encodeHidden(m, ids2, 1, true);
            assertNull(h1.pooled());
            ReferenceData.assertClose(ref(m, p + "te1_penultimate"), h1.hidden(), layout + " " + p + "te1_penultimate");
            ReferenceData.assertClose(ref(m, p + "te2_penultimate"), h2.hidden(), layout + " " + p + "te2_penultimate");
            ReferenceData.assertClose(ref(m, p + "pooled"), h2.pooled(), layout + " " + p + "pooled");
            ReferenceData.assertClose(ref(m, p + "context"), h1.hidden().concat(h2.hidden(), 2), layout + " " + p + "context");
            ReferenceData.assertClose(ref(m, p + "te1_last_hidden_state"), models.textEncoder().encode(m, ids),
                    layout + " " + p + "te1_last");
            ReferenceData.assertClose(ref(m, p + "te2_last_hidden_state"), models.textEncoder2().encode(m, ids2),
                    layout + " " + p + "te2_last");
        }
    }

    @ParameterizedTest
    @MethodSource("unets")
    void unetWithAddedConditioningMatchesDiffusers(String layout, String c) {
        UNet2DConditionModel unet = model(layout).models().unet();
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray out = unet.forward(m, ref(m, c + ".sample"), ref(m, c + ".timestep"), new Conditioning(
                    ref(m, c + ".context"), ref(m, c + ".text_embeds"), ref(m, c + ".time_ids")));
            ReferenceData.assertClose(ref(m, c + ".out"), out, layout + " " + c);
        }
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void vaeMatchesDiffusers(String layout) {
        AutoencoderKL vae = model(layout).models().vae();
        assertEquals(0.13025, vae.config().scalingFactor(), 1e-12);
        assertEquals(true, vae.config().forceUpcast());
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            ReferenceData.assertClose(ref(m, "vae_decode.image"), vae.decode(m, ref(m, "vae_decode.latents")),
                    layout + " vae_decode");
            AutoencoderKL.LatentDistribution d = vae.encode(m, ref(m, "vae_encode.image"));
            ReferenceData.assertClose(ref(m, "vae_encode.mean"), d.mean(), layout + " vae_encode.mean");
            ReferenceData.assertClose(ref(m, "vae_encode.std"), d.std(), layout + " vae_encode.std");
        }
    }
}
