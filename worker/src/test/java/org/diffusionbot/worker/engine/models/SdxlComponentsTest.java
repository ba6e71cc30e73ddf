package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
            // clip skip 2, SDXL's default: hidden_states[-2] (diffusers' encode_prompt without clip_skip)
            ClipTextEncoder.Hidden h1 = models.textEncoder().encodeHidden(m, ids, 2, false);
            ClipTextEncoder.Hidden h2 = models.textEncoder2().encodeHidden(m, ids2, 2, true);
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

    /**
     * Clip skip N on SDXL is {@code hidden_states[-N]} of both encoders without the final layer norm (ComfyUI's
     * CLIPSetLastLayer −N on SDXL; Automatic1111's sdxl_clip_l_skip): N = 1 is the last layer's output, which the
     * final layer norm turns into transformers' {@code last_hidden_state}; N = 3 is one layer before the default;
     * the pooled embedding is the last layer's whatever N.
     */
    @ParameterizedTest
    @MethodSource("texts")
    void clipSkipCountsFromTheLastLayerWithoutTheFinalNorm(String layout, int i, String prompt) {
        StableDiffusionModels models = model(layout).models();
        String p = "text" + i + ".";
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray ids = ref(m, p + "ids");
            NDArray ids2 = ref(m, p + "ids_2");
            ClipTextEncoder[] encoders = {models.textEncoder(), models.textEncoder2()};
            NDArray[] in = {ids, ids2};
            String[] last = {"te1_last_hidden_state", "te2_last_hidden_state"};
            for (int e = 0; e < 2; e++) {
                ClipTextEncoder enc = encoders[e];
                NDArray x = in[e];
                ClipTextEncoder.Hidden one = enc.encodeHidden(m, x, 1, e == 1);
                ReferenceData.assertClose(ref(m, p + last[e]), finalNorm(m, enc, one.hidden()),
                        layout + " " + p + last[e] + " = final_layer_norm(hidden_states[-1])");
                assertTrue(one.hidden().sub(ref(m, p + last[e])).abs().max().getFloat() > 1e-3,
                        "clip skip 1 on SDXL is not normed");
                ClipTextEncoder.Hidden two = enc.encodeHidden(m, x, 2, e == 1);
                ClipTextEncoder.Hidden three = enc.encodeHidden(m, x, 3, e == 1);
                assertTrue(three.hidden().sub(two.hidden()).abs().max().getFloat() > 1e-3, "3 is one layer deeper");
                if (e == 1) {
                    ReferenceData.assertClose(ref(m, p + "pooled"), one.pooled(), layout + " pooled, clip skip 1");
                    ReferenceData.assertClose(ref(m, p + "pooled"), three.pooled(), layout + " pooled, clip skip 3");
                }
                int layers = enc.config().numHiddenLayers();
                enc.encodeHidden(m, x, layers, false);
                assertThrows(IllegalArgumentException.class, () -> enc.encodeHidden(m, x, layers + 1, false));
                assertThrows(IllegalArgumentException.class, () -> enc.encodeHidden(m, x, 0, false));
            }
        }
    }

    /** transformers' {@code text_model.final_layer_norm} of the encoder, applied to x. */
    private static NDArray finalNorm(NDManager m, ClipTextEncoder enc, NDArray x) {
        NDArray w = enc.parameters().get("text_model.final_layer_norm.weight").value(m);
        NDArray b = enc.parameters().get("text_model.final_layer_norm.bias").value(m);
        return ai.djl.nn.norm.LayerNorm.layerNorm(x, new ai.djl.ndarray.types.Shape(w.getShape().get(0)), w, b,
                (float) enc.config().layerNormEps()).head();
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
