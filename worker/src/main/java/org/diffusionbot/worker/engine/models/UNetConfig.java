package org.diffusionbot.worker.engine.models;

import java.nio.file.Path;
import java.util.List;
import org.diffusionbot.worker.engine.loaders.ConfigJson;

/**
 * Configuration of a Stable Diffusion 1.x/2.x {@code UNet2DConditionModel} ({@code unet/config.json}),
 * with diffusers' defaults for absent fields and diffusers' semantics: when {@code
 * num_attention_heads} is null, {@code attention_head_dim} is the number of heads (a diffusers
 * naming quirk kept for compatibility).
 *
 * @param inChannels latent channels in
 * @param outChannels latent channels out
 * @param blockOutChannels channels of each resolution level
 * @param downBlockTypes {@code CrossAttnDownBlock2D} or {@code DownBlock2D} per level
 * @param upBlockTypes {@code UpBlock2D} or {@code CrossAttnUpBlock2D} per level
 * @param layersPerBlock resnets per down block (up blocks have one more)
 * @param numAttentionHeads heads of the transformers at each level
 * @param transformerLayersPerBlock transformer blocks per Transformer2DModel at each level
 * @param crossAttentionDim width of the text embeddings
 * @param useLinearProjection proj_in/proj_out are linear (SD 2.x) instead of 1x1 convolutions
 * @param upcastAttention compute attention scores and softmax in float32
 * @param normNumGroups GroupNorm groups
 * @param normEps GroupNorm epsilon of the resnets
 * @param flipSinToCos timestep embedding is [cos, sin] instead of [sin, cos]
 * @param freqShift timestep embedding frequency shift
 * @param timeEmbeddingDim width of the time embedding
 * @param convInKernel kernel size of conv_in
 * @param convOutKernel kernel size of conv_out
 * @param downsamplePadding padding of the downsampling convolutions
 * @param midBlockScaleFactor output scale factor of the mid block resnets
 * @param centerInputSample map the input from [0,1] to [-1,1]
 * @param additionEmbedType null, or {@code text_time} (SDXL: a pooled text embedding and added time
 *     ids, each id through a sinusoidal embedding of {@code additionTimeEmbedDim}, concatenated and
 *     passed through {@code add_embedding} into the time embedding)
 * @param additionTimeEmbedDim width of each added time id's embedding ({@code text_time} only)
 * @param projectionClassEmbeddingsInputDim input width of {@code add_embedding}: pooled width + ids ×
 *     {@code additionTimeEmbedDim} ({@code text_time} only)
 * @param sampleSize diffusers' {@code sample_size}: the latent side the model was trained at (× 8 =
 *     its native image side), 0 when the config does not say (single files)
 */
public record UNetConfig(
        int inChannels,
        int outChannels,
        List<Integer> blockOutChannels,
        List<String> downBlockTypes,
        List<String> upBlockTypes,
        int layersPerBlock,
        List<Integer> numAttentionHeads,
        List<Integer> transformerLayersPerBlock,
        int crossAttentionDim,
        boolean useLinearProjection,
        boolean upcastAttention,
        int normNumGroups,
        double normEps,
        boolean flipSinToCos,
        int freqShift,
        int timeEmbeddingDim,
        int convInKernel,
        int convOutKernel,
        int downsamplePadding,
        double midBlockScaleFactor,
        boolean centerInputSample,
        String additionEmbedType,
        int additionTimeEmbedDim,
        int projectionClassEmbeddingsInputDim,
        int sampleSize) {

    /** diffusers' {@code addition_embed_type} of SDXL. */
    public static final String TEXT_TIME = "text_time";

    /** Added time ids of SDXL's base model: original size, crop top-left, target size. */
    public static final int TIME_IDS = 6;

    /** Copies the lists; checks the added-conditioning fields. */
    public UNetConfig {
        if (additionEmbedType != null && !additionEmbedType.equals(TEXT_TIME)) {
            throw new IllegalArgumentException("unsupported addition_embed_type " + additionEmbedType);
        }
        if (additionEmbedType != null && (additionTimeEmbedDim <= 0 || additionTimeEmbedDim % 2 != 0
                || projectionClassEmbeddingsInputDim <= TIME_IDS * additionTimeEmbedDim)) {
            throw new IllegalArgumentException("text_time needs an even addition_time_embed_dim and "
                    + "projection_class_embeddings_input_dim > " + TIME_IDS + " x addition_time_embed_dim, got "
                    + additionTimeEmbedDim + " and " + projectionClassEmbeddingsInputDim);
        }
        blockOutChannels = List.copyOf(blockOutChannels);
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        numAttentionHeads = List.copyOf(numAttentionHeads);
        transformerLayersPerBlock = List.copyOf(transformerLayersPerBlock);
    }

    /**
     * @param source name used in error messages
     * @param json contents of {@code config.json}
     * @return the config
     * @throws org.diffusionbot.worker.engine.io.ModelFormatException for malformed or unsupported configs
     */
    public static UNetConfig parse(String source, String json) {
        ConfigJson c = ConfigJson.parse(source, json);
        List<Integer> blocks = c.intsOrInt("block_out_channels", List.of(320, 640, 1280, 1280), -1);
        int n = blocks.size();
        List<String> down = c.strings("down_block_types",
                List.of("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"));
        List<String> up = c.strings("up_block_types",
                List.of("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"));
        if (down.size() != n || up.size() != n) {
            throw c.unsupported("down_block_types/up_block_types must have one entry per block_out_channels");
        }
        for (String t : down) {
            if (!t.equals("CrossAttnDownBlock2D") && !t.equals("DownBlock2D")) {
                throw c.unsupported("down block type " + t);
            }
        }
        for (String t : up) {
            if (!t.equals("CrossAttnUpBlock2D") && !t.equals("UpBlock2D")) {
                throw c.unsupported("up block type " + t);
            }
        }
        String mid = c.string("mid_block_type", "UNetMidBlock2DCrossAttn");
        if (!mid.equals("UNetMidBlock2DCrossAttn")) {
            throw c.unsupported("mid_block_type " + mid);
        }
        String addition = c.string("addition_embed_type", null);
        if (addition != null && !addition.equals(TEXT_TIME)) {
            throw c.unsupported("addition_embed_type = " + addition);
        }
        for (String key : List.of("class_embed_type", "time_cond_proj_dim",
                "encoder_hid_dim_type", "cross_attention_norm", "reverse_transformer_layers_per_block",
                "timestep_post_act", "time_embedding_act_fn")) {
            if (!c.isNull(key)) {
                throw c.unsupported(key + " = " + c.node(key));
            }
        }
        if (c.node("num_class_embeds") != null && !c.isNull("num_class_embeds")) {
            throw c.unsupported("num_class_embeds");
        }
        if (!c.string("resnet_time_scale_shift", "default").equals("default")) {
            throw c.unsupported("resnet_time_scale_shift " + c.string("resnet_time_scale_shift", ""));
        }
        if (!c.string("time_embedding_type", "positional").equals("positional")) {
            throw c.unsupported("time_embedding_type " + c.string("time_embedding_type", ""));
        }
        if (!c.string("act_fn", "silu").equals("silu")) {
            throw c.unsupported("act_fn " + c.string("act_fn", ""));
        }
        if (c.node("only_cross_attention") != null && c.node("only_cross_attention").isBoolean()
                && c.bool("only_cross_attention", false)) {
            throw c.unsupported("only_cross_attention");
        }
        if (c.node("only_cross_attention") != null && c.node("only_cross_attention").isArray()) {
            for (var e : c.node("only_cross_attention")) {
                if (e.asBoolean()) {
                    throw c.unsupported("only_cross_attention");
                }
            }
        }
        if (c.bool("dual_cross_attention", false)) {
            throw c.unsupported("dual_cross_attention");
        }
        if (c.node("cross_attention_dim") != null && c.node("cross_attention_dim").isArray()) {
            throw c.unsupported("per-block cross_attention_dim");
        }
        if (c.node("layers_per_block") != null && c.node("layers_per_block").isArray()) {
            throw c.unsupported("per-block layers_per_block");
        }
        // diffusers: num_attention_heads = num_attention_heads or attention_head_dim
        String headsKey = c.isNull("num_attention_heads") ? "attention_head_dim" : "num_attention_heads";
        List<Integer> heads = c.intsOrInt(headsKey, nCopies(8, n), n);
        List<Integer> tlayers = c.intsOrInt("transformer_layers_per_block", nCopies(1, n), n);
        for (int i = 0; i < n; i++) {
            if (blocks.get(i) % heads.get(i) != 0) {
                throw c.unsupported("block_out_channels[" + i + "] = " + blocks.get(i)
                        + " is not divisible by " + heads.get(i) + " attention heads");
            }
        }
        int timeDim = c.isNull("time_embedding_dim") ? blocks.get(0) * 4 : c.integer("time_embedding_dim", 0);
        try {
            return new UNetConfig(
                c.integer("in_channels", 4),
                c.integer("out_channels", 4),
                blocks,
                down,
                up,
                c.integer("layers_per_block", 2),
                heads,
                tlayers,
                c.integer("cross_attention_dim", 1280),
                c.bool("use_linear_projection", false),
                c.bool("upcast_attention", false),
                c.integer("norm_num_groups", 32),
                c.number("norm_eps", 1e-5),
                c.bool("flip_sin_to_cos", true),
                c.integer("freq_shift", 0),
                timeDim,
                c.integer("conv_in_kernel", 3),
                c.integer("conv_out_kernel", 3),
                c.integer("downsample_padding", 1),
                c.number("mid_block_scale_factor", 1.0),
                c.bool("center_input_sample", false),
                addition,
                addition == null ? 0 : c.integer("addition_time_embed_dim", 0),
                addition == null ? 0 : c.integer("projection_class_embeddings_input_dim", 0),
                c.node("sample_size") != null && c.node("sample_size").isIntegralNumber() ? c.integer("sample_size", 0) : 0);
        } catch (IllegalArgumentException e) {
            throw c.unsupported(e.getMessage());
        }
    }

    /** Whether the UNet takes SDXL's added conditioning (pooled text embedding and time ids). */
    public boolean hasTextTime() {
        return TEXT_TIME.equals(additionEmbedType);
    }

    /** Width of the pooled text embedding a {@code text_time} UNet takes (0 for others). */
    public int pooledDim() {
        return hasTextTime() ? projectionClassEmbeddingsInputDim - TIME_IDS * additionTimeEmbedDim : 0;
    }

    /**
     * @param file a {@code config.json}
     * @return the config
     */
    public static UNetConfig load(Path file) {
        return parse(file.toString(), ConfigJson.text(file));
    }

    private static List<Integer> nCopies(int v, int n) {
        return java.util.Collections.nCopies(n, v);
    }
}
