package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.junit.jupiter.api.Test;

/** config.json parsing follows diffusers / transformers semantics and defaults. */
class ModelConfigTest {
    private static JsonNode fullSize(String component) throws IOException {
        return fullSize("sd15", component);
    }

    private static JsonNode fullSize(String model, String component) throws IOException {
        Path manifest = ReferenceData.root().resolveSibling("full-size").resolve(model + "/manifest.json");
        return new ObjectMapper().readTree(manifest.toFile()).get(component).get("config");
    }

    @Test
    void fullSizeSdxlConfigs() throws IOException {
        UNetConfig u = UNetConfig.parse("sdxl", fullSize("sdxl", "unet").toString());
        assertTrue(u.hasTextTime());
        assertEquals(List.of(5, 10, 20), u.numAttentionHeads());
        assertEquals(List.of(1, 2, 10), u.transformerLayersPerBlock());
        assertEquals(List.of("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"), u.downBlockTypes());
        assertEquals(2048, u.crossAttentionDim());
        assertEquals(256, u.additionTimeEmbedDim());
        assertEquals(1280, u.pooledDim());
        // the manifest's text_encoder_2 config has architectures: null; the pipeline declares it WithProjection
        String te2 = fullSize("sdxl", "text_encoder_2").toString();
        assertEquals(0, ClipTextConfig.parse("te2", te2).projectionDim());
        ClipTextConfig t2 = ClipTextConfig.parse("te2", te2, true);
        assertEquals(1280, t2.projectionDim());
        assertEquals(u.pooledDim(), t2.projectionDim());
        assertEquals("gelu", t2.hiddenAct());
        assertEquals(u.crossAttentionDim(), ClipTextConfig.parse("te1", fullSize("sdxl", "text_encoder").toString())
                .hiddenSize() + t2.hiddenSize());
        VaeConfig v = VaeConfig.parse("vae", fullSize("sdxl", "vae").toString());
        assertEquals(0.13025, v.scalingFactor());
        assertTrue(v.forceUpcast());
        assertFalse(VaeConfig.parse("fp16-fix", "{\"force_upcast\": false}").forceUpcast());
    }

    @Test
    void attentionHeadDimIsTheNumberOfHeadsWhenNumAttentionHeadsIsNull() {
        UNetConfig tiny = UNetConfig.load(ReferenceData.modelDir().resolve("unet/config.json"));
        assertEquals(List.of(8, 8, 8, 8), tiny.numAttentionHeads());
        assertEquals(List.of(32, 64, 64, 64), tiny.blockOutChannels());
        assertEquals(32, tiny.crossAttentionDim());
        assertEquals(8, tiny.normNumGroups());

        UNetConfig sd2 = UNetConfig.parse("sd2", "{\"attention_head_dim\": [5, 10, 20, 20], \"num_attention_heads\": null,"
                + " \"use_linear_projection\": true, \"upcast_attention\": true, \"cross_attention_dim\": 1024}");
        assertEquals(List.of(5, 10, 20, 20), sd2.numAttentionHeads());
        assertTrue(sd2.useLinearProjection());
        assertTrue(sd2.upcastAttention());
        assertEquals(1024, sd2.crossAttentionDim());

        UNetConfig explicit = UNetConfig.parse("x", "{\"attention_head_dim\": 64, \"num_attention_heads\": [5, 10, 20, 20]}");
        assertEquals(List.of(5, 10, 20, 20), explicit.numAttentionHeads());
    }

    @Test
    void fullSizeSd15UNetConfig() throws IOException {
        JsonNode c = fullSize("unet");
        UNetConfig cfg = UNetConfig.parse("sd15", c.toString());
        assertEquals(c.get("attention_head_dim").asInt(), cfg.numAttentionHeads().get(0));
        assertEquals(c.get("cross_attention_dim").asInt(), cfg.crossAttentionDim());
        assertEquals(c.get("block_out_channels").get(0).asInt() * 4, cfg.timeEmbeddingDim());
        assertEquals(c.get("norm_num_groups").asInt(), cfg.normNumGroups());
    }

    @Test
    void unetDefaultsWhenFieldsAreMissing() {
        UNetConfig d = UNetConfig.parse("old", "{\"cross_attention_dim\": 768}");
        assertEquals(List.of(320, 640, 1280, 1280), d.blockOutChannels());
        assertEquals(List.of("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                d.downBlockTypes());
        assertEquals(List.of("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), d.upBlockTypes());
        assertEquals(List.of(8, 8, 8, 8), d.numAttentionHeads());
        assertEquals(List.of(1, 1, 1, 1), d.transformerLayersPerBlock());
        assertEquals(2, d.layersPerBlock());
        assertEquals(4, d.inChannels());
        assertEquals(32, d.normNumGroups());
        assertEquals(1e-5, d.normEps());
        assertTrue(d.flipSinToCos());
        assertEquals(0, d.freqShift());
        assertEquals(1280, d.timeEmbeddingDim());
        assertFalse(d.useLinearProjection());
        assertFalse(d.upcastAttention());
        assertEquals(1280, UNetConfig.parse("empty", "{}").crossAttentionDim());
        // explicit nulls also take the default
        assertEquals(32, UNetConfig.parse("nulls", "{\"norm_num_groups\": null}").normNumGroups());
    }

    @Test
    void unetRefusesUnsupportedArchitectures() {
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> UNetConfig.parse("kandinsky/unet/config.json", "{\"addition_embed_type\": \"image\"}"));
        assertTrue(e.getMessage().contains("kandinsky/unet/config.json") && e.getMessage().contains("addition_embed_type"));
        e = assertThrows(ModelFormatException.class,
                () -> UNetConfig.parse("sdxl/unet/config.json", "{\"addition_embed_type\": \"text_time\"}"));
        assertTrue(e.getMessage().contains("addition_time_embed_dim"), e.getMessage());
        assertThrows(ModelFormatException.class, () -> UNetConfig.parse("x", "{\"attention_head_dim\": [8, 8]}"));
        assertThrows(ModelFormatException.class, () -> UNetConfig.parse("x", "{\"norm_num_groups\": \"32\"}"));
        assertThrows(ModelFormatException.class, () -> UNetConfig.parse("x", "not json"));
    }

    @Test
    void clipConfigAndDefaults() throws IOException {
        ClipTextConfig tiny = ClipTextConfig.load(ReferenceData.modelDir().resolve("text_encoder/config.json"));
        assertEquals(32, tiny.hiddenSize());
        assertEquals(4, tiny.numHiddenLayers());
        assertEquals(4, tiny.numAttentionHeads());
        assertEquals("quick_gelu", tiny.hiddenAct());

        ClipTextConfig d = ClipTextConfig.parse("old", "{}");
        assertEquals(512, d.hiddenSize());
        assertEquals(2048, d.intermediateSize());
        assertEquals(12, d.numHiddenLayers());
        assertEquals(8, d.numAttentionHeads());
        assertEquals(77, d.maxPositionEmbeddings());
        assertEquals(49408, d.vocabSize());
        assertEquals("quick_gelu", d.hiddenAct());
        assertEquals(1e-5, d.layerNormEps());

        JsonNode full = fullSize("text_encoder");
        ClipTextConfig sd15 = ClipTextConfig.parse("sd15", full.toString());
        assertEquals(full.get("hidden_size").asInt(), sd15.hiddenSize());
        assertEquals(full.get("num_attention_heads").asInt(), sd15.numAttentionHeads());

        assertEquals("gelu", ClipTextConfig.parse("sd2", "{\"hidden_act\": \"gelu\", \"hidden_size\": 1024, "
                + "\"num_attention_heads\": 16}").hiddenAct());
        assertThrows(ModelFormatException.class, () -> ClipTextConfig.parse("x", "{\"hidden_act\": \"relu\"}"));
    }

    @Test
    void vaeConfigAndDefaults() {
        VaeConfig tiny = VaeConfig.load(ReferenceData.modelDir().resolve("vae/config.json"));
        assertEquals(List.of(16, 32, 32, 32), tiny.blockOutChannels());
        assertEquals(0.18215, tiny.scalingFactor());
        assertEquals(8, tiny.normNumGroups());
        assertEquals(2, tiny.layersPerBlock());

        VaeConfig d = VaeConfig.parse("old", "{}");
        assertEquals(List.of(64), d.blockOutChannels());
        assertEquals(1, d.layersPerBlock());
        assertEquals(4, d.latentChannels());
        assertEquals(32, d.normNumGroups());
        assertEquals(0.18215, d.scalingFactor());
        assertTrue(d.useQuantConv() && d.usePostQuantConv() && d.midBlockAddAttention());
    }
}
