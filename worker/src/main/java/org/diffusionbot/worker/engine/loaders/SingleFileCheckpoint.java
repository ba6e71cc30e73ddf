package org.diffusionbot.worker.engine.loaders;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.ClipTextConfig;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;
import org.diffusionbot.worker.engine.models.UNetConfig;
import org.diffusionbot.worker.engine.models.VaeConfig;
import org.diffusionbot.worker.engine.pipeline.PipelineOptions;

/**
 * The original single-file Stable Diffusion checkpoint layout (as Automatic1111 / ComfyUI users
 * download it: {@code model.diffusion_model.*}, {@code first_stage_model.*}, {@code
 * cond_stage_model.transformer.*}; SD 2.x's and SDXL's OpenCLIP text towers, {@link #openClipText})
 * as a pure name-mapping layer in front of the diffusers-named model classes: {@link #parts} gives the
 * {@link ModelParts} that {@link ModelAssembly} builds, as for a diffusers folder. VAE attention
 * weights, stored as 1x1 convolutions there, are viewed as linear. The file holds no configs: {@link
 * CheckpointArchitecture} infers them from the tensor shapes (or the caller supplies them).
 */
public final class SingleFileCheckpoint {
    /** Prefix of UNet tensors. */
    public static final String UNET_PREFIX = "model.diffusion_model.";
    /** Prefix of VAE tensors. */
    public static final String VAE_PREFIX = "first_stage_model.";
    /** Prefix of text encoder tensors. */
    public static final String TEXT_PREFIX = "cond_stage_model.transformer.";

    private static final Pattern INPUT = Pattern.compile("^input_blocks\\.(\\d+)\\.(\\d+)\\.(.+)$");
    private static final Pattern MIDDLE = Pattern.compile("^middle_block\\.(\\d+)\\.(.+)$");
    private static final Pattern OUTPUT = Pattern.compile("^output_blocks\\.(\\d+)\\.(\\d+)\\.(.+)$");
    private static final Pattern VAE_DOWN = Pattern.compile("^encoder\\.down\\.(\\d+)\\.(block\\.(\\d+)|downsample)\\.(.+)$");
    private static final Pattern VAE_UP = Pattern.compile("^decoder\\.up\\.(\\d+)\\.(block\\.(\\d+)|upsample)\\.(.+)$");
    private static final Pattern VAE_MID = Pattern.compile("^(encoder|decoder)\\.mid\\.(block_1|block_2|attn_1)\\.(.+)$");
    private static final Pattern VAE_ATTN_PROJ = Pattern.compile("^(encoder|decoder)\\.mid_block\\.attentions\\.0\\.to_(q|k|v|out\\.0)\\.weight$");

    private SingleFileCheckpoint() {}

    /**
     * Loads text encoder, UNet and VAE from one single-file checkpoint, laid out as {@link PipelineOptions#DEFAULTS}
     * say.
     *
     * @param file the {@code .safetensors} checkpoint
     * @param unetConfig UNet config (e.g. SD 1.5's)
     * @param vaeConfig VAE config
     * @param textConfig text encoder config
     * @param dtype parameter and compute type
     * @param device parameter and compute device
     * @return the models
     * @throws ModelFormatException for a bad file or tensors not matching the configs
     */
    public static StableDiffusionModels load(Path file, UNetConfig unetConfig, VaeConfig vaeConfig, ClipTextConfig textConfig,
            DataType dtype, Device device) {
        try (Weights all = Weights.open(file)) {
            ModelParts parts = new ModelParts(all.source(), new ModelParts.Part<>(textConfig, textEncoder(all)), null,
                    new ModelParts.Part<>(unetConfig, unet(all, unetConfig)),
                    new ModelParts.Part<>(vaeConfig, vae(all, vaeConfig)), List.of());
            return ModelAssembly.assemble(parts, dtype, device, null, PipelineOptions.DEFAULTS);
        }
    }

    /**
     * A single file's parts under diffusers names (SD 1.x: {@code cond_stage_model.transformer.*}; SD 2.x:
     * OpenCLIP {@code cond_stage_model.model.*}; SDXL: text encoder 1 {@code conditioner.embedders.0.transformer.*},
     * text encoder 2 OpenCLIP {@code conditioner.embedders.1.model.*}; then the SGM UNet and the VAE), views of
     * {@code all}, which the caller keeps open until they are built.
     *
     * @param all every tensor of the file
     * @param arch its family and configs ({@link CheckpointArchitecture#infer})
     * @param withVae whether to map the file's VAE (not when a separate VAE replaces it)
     */
    static ModelParts parts(Weights all, CheckpointArchitecture.Inferred arch, boolean withVae) {
        Weights text = switch (arch.family()) {
            case SD1 -> textEncoder(all);
            case SD2 -> openClipText(all, CheckpointArchitecture.OPENCLIP_PREFIX, arch.text().numHiddenLayers(), false);
            case SDXL -> textEncoder(all, CheckpointArchitecture.SDXL_TEXT1_PREFIX);
        };
        ModelParts.Part<ClipTextConfig> text2 = arch.family() != CheckpointArchitecture.Family.SDXL ? null
                : new ModelParts.Part<>(arch.text2(), openClipText(all, CheckpointArchitecture.SDXL_TEXT2_PREFIX,
                        arch.text2().numHiddenLayers(), true));
        return new ModelParts(all.source(), new ModelParts.Part<>(arch.text(), text), text2,
                new ModelParts.Part<>(arch.unet(), unet(all, arch.unet())),
                new ModelParts.Part<>(arch.vae(), withVae ? vae(all, arch.vae()) : null), List.of());
    }

    /**
     * @param checkpoint all tensors of the file
     * @return the text encoder tensors under transformers names ({@code position_ids} ignored)
     */
    public static Weights textEncoder(Weights checkpoint) {
        return textEncoder(checkpoint, TEXT_PREFIX);
    }

    /**
     * @param checkpoint all tensors of the file
     * @param prefix where the transformers-named encoder lives ({@link #TEXT_PREFIX}; SDXL's first
     *     encoder: {@code conditioner.embedders.0.transformer.})
     * @return the text encoder tensors under transformers names ({@code position_ids} ignored)
     */
    public static Weights textEncoder(Weights checkpoint, String prefix) {
        return checkpoint.subset(prefix)
                .renamed(n -> n.startsWith("text_model.") ? n : "text_model." + n)
                .ignoreUnused(n -> n.endsWith("embeddings.position_ids"));
    }

    /**
     * @param checkpoint all tensors of the file
     * @param config the UNet config (for the block layout)
     * @return the UNet tensors under diffusers names
     */
    public static Weights unet(Weights checkpoint, UNetConfig config) {
        return checkpoint.subset(UNET_PREFIX).renamed(n -> unetName(n, config.layersPerBlock()));
    }

    /**
     * @param checkpoint all tensors of the file
     * @param config the VAE config (for the block layout)
     * @return the VAE tensors under diffusers names, attention weights viewed as linear
     */
    public static Weights vae(Weights checkpoint, VaeConfig config) {
        Weights sub = checkpoint.subset(VAE_PREFIX);
        Map<String, TensorView> out = new LinkedHashMap<>();
        for (String n : sub.names()) {
            String d = vaeName(n, config.blockOutChannels().size());
            TensorView v = sub.get(n);
            Shape s = v.shape();
            if (VAE_ATTN_PROJ.matcher(d).matches() && s.dimension() == 4 && s.get(2) == 1 && s.get(3) == 1) {
                v = v.withShape(new Shape(s.get(0), s.get(1)));
            }
            if (out.putIfAbsent(d, v) != null) {
                throw new ModelFormatException(sub.source() + ": two tensors map to " + d);
            }
        }
        return Weights.of(sub.source(), out);
    }

    /**
     * Maps one UNet tensor name (prefix removed) to its diffusers name.
     *
     * @param name e.g. {@code input_blocks.1.0.in_layers.0.weight}
     * @param layersPerBlock resnets per down block
     * @return e.g. {@code down_blocks.0.resnets.0.norm1.weight}; unknown names are returned unchanged
     */
    public static String unetName(String name, int layersPerBlock) {
        int per = layersPerBlock + 1;
        for (String[] r : new String[][] {
            {"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
            {"input_blocks.0.0.", "conv_in."}, {"out.0.", "conv_norm_out."}, {"out.2.", "conv_out."},
            {"label_emb.0.0.", "add_embedding.linear_1."}, {"label_emb.0.2.", "add_embedding.linear_2."}}) {
            if (name.startsWith(r[0])) {
                return r[1] + name.substring(r[0].length());
            }
        }
        Matcher m = INPUT.matcher(name);
        if (m.matches()) {
            int k = Integer.parseInt(m.group(1)) - 1;
            int i = k / per;
            int j = k % per;
            String rest = m.group(3);
            if (j == layersPerBlock) {
                return rest.startsWith("op.") ? "down_blocks." + i + ".downsamplers.0.conv." + rest.substring(3) : name;
            }
            return m.group(2).equals("0")
                    ? "down_blocks." + i + ".resnets." + j + "." + resnetName(rest)
                    : "down_blocks." + i + ".attentions." + j + "." + rest;
        }
        m = MIDDLE.matcher(name);
        if (m.matches()) {
            return switch (m.group(1)) {
                case "0" -> "mid_block.resnets.0." + resnetName(m.group(2));
                case "1" -> "mid_block.attentions.0." + m.group(2);
                case "2" -> "mid_block.resnets.1." + resnetName(m.group(2));
                default -> name;
            };
        }
        m = OUTPUT.matcher(name);
        if (m.matches()) {
            int k = Integer.parseInt(m.group(1));
            String pre = "up_blocks." + (k / per) + ".";
            int j = k % per;
            String rest = m.group(3);
            if (m.group(2).equals("0")) {
                return pre + "resnets." + j + "." + resnetName(rest);
            }
            if (rest.startsWith("conv.")) {
                return pre + "upsamplers.0." + rest;
            }
            return pre + "attentions." + j + "." + rest;
        }
        return name;
    }

    private static String resnetName(String rest) {
        for (String[] r : new String[][] {
            {"in_layers.0.", "norm1."}, {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
            {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."}}) {
            if (rest.startsWith(r[0])) {
                return r[1] + rest.substring(r[0].length());
            }
        }
        return rest;
    }

    /**
     * Maps one VAE tensor name (prefix removed) to its diffusers name.
     *
     * @param name e.g. {@code decoder.up.3.block.0.nin_shortcut.weight}
     * @param numBlocks number of resolution levels (length of block_out_channels)
     * @return e.g. {@code decoder.up_blocks.0.resnets.0.conv_shortcut.weight}; unknown names unchanged
     */
    public static String vaeName(String name, int numBlocks) {
        Matcher m = VAE_DOWN.matcher(name);
        if (m.matches()) {
            String pre = "encoder.down_blocks." + m.group(1) + ".";
            return m.group(3) != null
                    ? pre + "resnets." + m.group(3) + "." + vaeResnetName(m.group(4))
                    : pre + "downsamplers.0." + m.group(4);
        }
        m = VAE_UP.matcher(name);
        if (m.matches()) {
            String pre = "decoder.up_blocks." + (numBlocks - 1 - Integer.parseInt(m.group(1))) + ".";
            return m.group(3) != null
                    ? pre + "resnets." + m.group(3) + "." + vaeResnetName(m.group(4))
                    : pre + "upsamplers.0." + m.group(4);
        }
        m = VAE_MID.matcher(name);
        if (m.matches()) {
            String pre = m.group(1) + ".mid_block.";
            String rest = m.group(3);
            return switch (m.group(2)) {
                case "block_1" -> pre + "resnets.0." + vaeResnetName(rest);
                case "block_2" -> pre + "resnets.1." + vaeResnetName(rest);
                default -> pre + "attentions.0." + attentionName(rest);
            };
        }
        if (name.startsWith("encoder.norm_out.") || name.startsWith("decoder.norm_out.")) {
            return name.replace(".norm_out.", ".conv_norm_out.");
        }
        return name;
    }

    private static String vaeResnetName(String rest) {
        return rest.startsWith("nin_shortcut.") ? "conv_shortcut." + rest.substring("nin_shortcut.".length()) : rest;
    }

    private static String attentionName(String rest) {
        for (String[] r : new String[][] {
            {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."}}) {
            if (rest.startsWith(r[0])) {
                return r[1] + rest.substring(r[0].length());
            }
        }
        return rest;
    }

    /**
     * Maps an OpenCLIP text tower to transformers CLIP names, as diffusers' single-file conversion
     * does, splitting the fused {@code in_proj} into q/k/v and ignoring the logit scale: SD 2.x
     * ({@code cond_stage_model.model.*}) keeps all layers but the last (SD 2 conditions on the
     * penultimate layer) and drops the text projection; SDXL's second encoder ({@code
     * conditioner.embedders.1.model.*}) keeps every layer and its {@code text_projection}, stored as
     * [hidden, projection] and applied as {@code x @ P}, becomes {@code text_projection.weight} (its
     * transpose).
     *
     * @param all all tensors of the file
     * @param prefix where the OpenCLIP tower lives
     * @param layers layers to keep
     * @param projection whether to keep {@code text_projection}
     * @return the text encoder tensors under {@code text_model.*} (and {@code text_projection.weight}) names
     */
    public static Weights openClipText(Weights all, String prefix, int layers, boolean projection) {
        Weights sub = all.subset(prefix);
        Map<String, TensorView> out = new LinkedHashMap<>();
        String t = "text_model.";
        for (String n : sub.names()) {
            TensorView v = sub.get(n);
            switch (n) {
                case "token_embedding.weight" -> out.put(t + "embeddings.token_embedding.weight", v);
                case "positional_embedding" -> out.put(t + "embeddings.position_embedding.weight", v);
                case "ln_final.weight" -> out.put(t + "final_layer_norm.weight", v);
                case "ln_final.bias" -> out.put(t + "final_layer_norm.bias", v);
                case "text_projection" -> {
                    if (projection) {
                        out.put("text_projection.weight", v.transposed(n + "^T"));
                    }
                }
                case "logit_scale", "attn_mask" -> { }
                default -> mapResblock(n, v, layers, out, sub.source());
            }
        }
        return Weights.of(sub.source(), out);
    }

    private static void mapResblock(String n, TensorView v, int layers, Map<String, TensorView> out, String source) {
        String pre = "transformer.resblocks.";
        if (!n.startsWith(pre)) {
            out.put("unexpected." + n, v);
            return;
        }
        String rest = n.substring(pre.length());
        int dot = rest.indexOf('.');
        int layer = Integer.parseInt(rest.substring(0, dot));
        if (layer >= layers) {
            return; // the dropped last layer
        }
        String p = "text_model.encoder.layers." + layer + ".";
        String r = rest.substring(dot + 1);
        switch (r) {
            case "attn.in_proj_weight", "attn.in_proj_bias" -> {
                long d = v.shape().get(0) / 3;
                String kind = r.endsWith("weight") ? "weight" : "bias";
                out.put(p + "self_attn.q_proj." + kind, v.rows(n + "[q]", 0, d));
                out.put(p + "self_attn.k_proj." + kind, v.rows(n + "[k]", d, d));
                out.put(p + "self_attn.v_proj." + kind, v.rows(n + "[v]", 2 * d, d));
            }
            default -> {
                String mapped = r.replace("attn.out_proj.", "self_attn.out_proj.").replace("ln_1.", "layer_norm1.")
                        .replace("ln_2.", "layer_norm2.").replace("mlp.c_fc.", "mlp.fc1.").replace("mlp.c_proj.", "mlp.fc2.");
                out.put(p + mapped, v);
            }
        }
    }
}
