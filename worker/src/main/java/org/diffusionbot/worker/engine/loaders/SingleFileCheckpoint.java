package org.diffusionbot.worker.engine.loaders;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.AutoencoderKL;
import org.diffusionbot.worker.engine.models.ClipTextConfig;
import org.diffusionbot.worker.engine.models.ClipTextEncoder;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;
import org.diffusionbot.worker.engine.models.UNet2DConditionModel;
import org.diffusionbot.worker.engine.models.UNetConfig;
import org.diffusionbot.worker.engine.models.VaeConfig;

/**
 * The original single-file Stable Diffusion 1.x checkpoint layout (as Automatic1111 / ComfyUI users
 * download it: {@code model.diffusion_model.*}, {@code first_stage_model.*}, {@code
 * cond_stage_model.transformer.*}) as a pure name-mapping layer in front of the diffusers-named
 * model classes. VAE attention weights, stored as 1x1 convolutions there, are viewed as linear.
 * The file holds no configs: the caller supplies them (e.g. the SD 1.5 ones).
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
     * Loads text encoder, UNet and VAE from one single-file checkpoint.
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
        NDManager manager = NDManager.newBaseManager(device);
        try (Weights all = Weights.open(file)) {
            Weights text = textEncoder(all);
            ClipTextEncoder te = new ClipTextEncoder(textConfig, text, manager.newSubManager(), dtype, device);
            text.verify();
            Weights u = unet(all, unetConfig);
            UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig, u, manager.newSubManager(), dtype, device);
            u.verify();
            Weights v = vae(all, vaeConfig);
            AutoencoderKL vae = new AutoencoderKL(vaeConfig, v, manager.newSubManager(), dtype, device);
            v.verify();
            return new StableDiffusionModels(manager, te, unet, vae);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
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
}
