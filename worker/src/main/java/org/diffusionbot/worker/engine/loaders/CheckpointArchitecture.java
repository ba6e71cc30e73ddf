package org.diffusionbot.worker.engine.loaders;

import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.ClipTextConfig;
import org.diffusionbot.worker.engine.models.UNetConfig;
import org.diffusionbot.worker.engine.models.VaeConfig;

/**
 * Recognises the architecture of a single-file (LDM-named) checkpoint from its tensor names and
 * shapes and derives the diffusers configs, as diffusers' {@code from_single_file} does without a
 * config: SD 1.x ({@code cond_stage_model.transformer.*}, CLIP ViT-L text encoder), SD 2.x ({@code
 * cond_stage_model.model.*}, OpenCLIP text encoder), and SDXL ({@code conditioner.embedders.0.transformer.*}
 * CLIP ViT-L + {@code conditioner.embedders.1.model.*} OpenCLIP ViT-bigG with projection, {@code
 * label_emb} added conditioning); the SDXL refiner (one OpenCLIP encoder, aesthetic-score
 * conditioning) is refused.
 *
 * <p>From the shapes: latent and image channels, channels per level, resnets per level, which levels
 * have attention, transformer depth, cross-attention width, linear vs convolutional projections,
 * time embedding width, VAE quant convs and mid attention, text vocabulary, width, MLP width,
 * positions and depth. Not in the file, taken from the bundled SD 1.5 defaults
 * ({@code sd15-defaults/*.json}) or fixed per family:
 * <ul>
 *   <li>attention heads: SD 1.x 8 per level, SD 2.x and SDXL channels/64; text encoder hidden/64
 *       (toy widths that are no multiple of 64, which no real model has: hidden/8 for SD 1.x/2.x;
 *       for SDXL 2^level heads per UNet level and 2 per text encoder, the tiny reference model's);</li>
 *   <li>GroupNorm groups: 32 (what LDM hard-codes) for real models; for toy models whose first level
 *       has fewer than 128 channels, 8 (diffusers' tiny test models); {@link
 *       ModelLoader.Options#normNumGroups()} overrides;</li>
 *   <li>VAE scaling factor 0.18215 (SDXL: 0.13025, and decoded in float32 as diffusers' SDXL VAE
 *       config's {@code force_upcast}), noise schedule (scaled_linear 0.00085 → 0.012), epsilon
 *       prediction unless {@link ModelLoader.Options#predictionType()} says otherwise (SD 2.x 768-px
 *       models are v-prediction; the file cannot tell).</li>
 * </ul>
 */
public final class CheckpointArchitecture {
    /** Model families recognised in single files. */
    public enum Family {
        SD1,
        SD2,
        SDXL
    }

    /** Prefix of the SD 2.x OpenCLIP text encoder. */
    public static final String OPENCLIP_PREFIX = "cond_stage_model.model.";
    private static final String UNET = "model.diffusion_model.";
    private static final String VAE = "first_stage_model.";
    private static final String SD1_TEXT = "cond_stage_model.transformer.";
    /** Prefix of SDXL's first text encoder (CLIP ViT-L, transformers naming). */
    public static final String SDXL_TEXT1_PREFIX = "conditioner.embedders.0.transformer.";
    /** Prefix of SDXL's second text encoder (OpenCLIP ViT-bigG naming). */
    public static final String SDXL_TEXT2_PREFIX = "conditioner.embedders.1.model.";
    private static final String SDXL_REFINER_TEXT = "conditioner.embedders.0.model.";
    /** SDXL VAE's scaling factor. */
    static final double SDXL_VAE_SCALING = 0.13025;
    private static final Pattern INPUT_BLOCK = Pattern.compile("^model\\.diffusion_model\\.input_blocks\\.(\\d+)\\.");
    private static final Pattern TRANSFORMER_BLOCK = Pattern.compile("\\.transformer_blocks\\.(\\d+)\\.");

    /**
     * @param family the model family
     * @param unet derived UNet config
     * @param vae derived VAE config
     * @param text derived text encoder config
     * @param tokenizerPadId pad id of the tokenizer (SD 1.x: eos 49407; SD 2.x: 0)
     * @param text2 SDXL's second text encoder (with projection; its tokenizer pads with 0), else null
     */
    public record Inferred(Family family, UNetConfig unet, VaeConfig vae, ClipTextConfig text, int tokenizerPadId,
            ClipTextConfig text2) {}

    private CheckpointArchitecture() {}

    /**
     * @param w all tensors of the file
     * @return the family
     * @throws ModelFormatException for the SDXL refiner or anything that is not a Stable Diffusion checkpoint
     */
    public static Family family(Weights w) {
        Set<String> names = w.names();
        boolean hasUnet = names.stream().anyMatch(n -> n.startsWith(UNET));
        boolean hasVae = names.stream().anyMatch(n -> n.startsWith(VAE));
        List<String> missing = new ArrayList<>();
        if (names.stream().anyMatch(n -> n.startsWith("conditioner.embedders."))) {
            boolean text1 = names.stream().anyMatch(n -> n.startsWith(SDXL_TEXT1_PREFIX));
            boolean text2 = names.stream().anyMatch(n -> n.startsWith(SDXL_TEXT2_PREFIX));
            if (!text1 && !text2 && names.stream().anyMatch(n -> n.startsWith(SDXL_REFINER_TEXT))) {
                throw new ModelFormatException(w.source() + ": this is an SDXL refiner (one OpenCLIP text encoder, "
                        + "aesthetic-score conditioning), which is not supported; use an SDXL base model or a finetune of it");
            }
            if (!text1) {
                missing.add("text encoder 1 (" + SDXL_TEXT1_PREFIX + "*)");
            }
            if (!text2) {
                missing.add("text encoder 2 (" + SDXL_TEXT2_PREFIX + "*)");
            }
            checkComplete(w, hasUnet, hasVae, missing);
            return Family.SDXL;
        }
        boolean sd1 = names.stream().anyMatch(n -> n.startsWith(SD1_TEXT));
        boolean sd2 = names.stream().anyMatch(n -> n.startsWith(OPENCLIP_PREFIX));
        if (!sd1 && !sd2) {
            missing.add("text encoder (" + SD1_TEXT + "* or " + OPENCLIP_PREFIX + "*)");
        }
        checkComplete(w, hasUnet, hasVae, missing);
        return sd2 ? Family.SD2 : Family.SD1;
    }

    private static void checkComplete(Weights w, boolean hasUnet, boolean hasVae, List<String> missing) {
        if (!hasVae) {
            missing.add(0, "VAE (" + VAE + "*)");
        }
        if (!hasUnet) {
            missing.add(0, "UNet (" + UNET + "*)");
        }
        if (!missing.isEmpty()) {
            throw new ModelFormatException(w.source() + ": not a complete Stable Diffusion single-file checkpoint; missing "
                    + String.join(", ", missing) + "; top-level prefixes found: " + prefixes(w.names()));
        }
    }

    private static String prefixes(Set<String> names) {
        Set<String> p = new TreeSet<>();
        for (String n : names) {
            int i = n.indexOf('.');
            p.add(i < 0 ? n : n.substring(0, i) + ".*");
            if (p.size() > 10) {
                break;
            }
        }
        return p.isEmpty() ? "(none)" : String.join(", ", p);
    }

    /**
     * Derives the configs.
     *
     * @param w all tensors of the file
     * @param normGroupsOverride GroupNorm groups for UNet and VAE, or null to infer
     * @return the configs
     */
    public static Inferred infer(Weights w, Integer normGroupsOverride) {
        Family family = family(w);
        UNetConfig unet = unet(w, family, normGroupsOverride);
        VaeConfig vae = vae(w, family, normGroupsOverride);
        if (family == Family.SDXL) {
            return new Inferred(family, unet, vae, clipText(w, SDXL_TEXT1_PREFIX, family), -1, sdxlText2(w));
        }
        ClipTextConfig text = family == Family.SD2 ? openClipText(w) : clipText(w, SD1_TEXT, family);
        return new Inferred(family, unet, vae, text, family == Family.SD2 ? 0 : -1, null);
    }

    static String resource(String name) {
        try (InputStream in = CheckpointArchitecture.class.getClassLoader().getResourceAsStream("sd15-defaults/" + name)) {
            if (in == null) {
                throw new IllegalStateException("missing classpath resource sd15-defaults/" + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Shape shape(Weights w, String name) {
        TensorView v = w.get(name);
        if (v == null) {
            throw new ModelFormatException(w.source() + ": missing tensor " + name
                    + " needed to recognise the architecture");
        }
        return v.shape();
    }

    private static boolean has(Weights w, String name) {
        return w.get(name) != null;
    }

    static int groups(List<Integer> channels, Integer override) {
        if (override != null) {
            return override;
        }
        int min = Collections.min(channels);
        int g = min >= 128 ? 32 : 8;
        for (int c : channels) {
            while (c % g != 0) {
                g /= 2;
            }
        }
        return Math.max(g, 1);
    }

    private static UNetConfig unet(Weights w, Family family, Integer groupsOverride) {
        UNetConfig d = UNetConfig.parse("sd15-defaults/unet.json", resource("unet.json"));
        Shape convIn = shape(w, UNET + "input_blocks.0.0.weight");
        int maxInput = 0;
        for (String n : w.names()) {
            Matcher m = INPUT_BLOCK.matcher(n);
            if (m.find()) {
                maxInput = Math.max(maxInput, Integer.parseInt(m.group(1)));
            }
        }
        List<Integer> channels = new ArrayList<>();
        List<Boolean> attention = new ArrayList<>();
        List<Integer> depth = new ArrayList<>();
        int layers = -1;
        int inLevel = 0;
        boolean levelAttn = false;
        int levelDepth = 1;
        int levelChannels = -1;
        int crossDim = -1;
        boolean linear = false;
        for (int k = 1; k <= maxInput; k++) {
            String p = UNET + "input_blocks." + k + ".";
            if (has(w, p + "0.op.weight")) {
                if (layers < 0) {
                    layers = inLevel;
                }
                channels.add(levelChannels);
                attention.add(levelAttn);
                depth.add(levelDepth);
                inLevel = 0;
                levelAttn = false;
                levelDepth = 1;
                continue;
            }
            levelChannels = (int) shape(w, p + "0.out_layers.3.weight").get(0);
            inLevel++;
            if (has(w, p + "1.proj_in.weight")) {
                levelAttn = true;
                linear = shape(w, p + "1.proj_in.weight").dimension() == 2;
                int maxT = 0;
                for (String n : w.names()) {
                    if (n.startsWith(p + "1.transformer_blocks.")) {
                        Matcher m = TRANSFORMER_BLOCK.matcher(n);
                        if (m.find()) {
                            maxT = Math.max(maxT, Integer.parseInt(m.group(1)));
                        }
                    }
                }
                levelDepth = maxT + 1;
                crossDim = (int) shape(w, p + "1.transformer_blocks.0.attn2.to_k.weight").get(1);
            }
        }
        channels.add(levelChannels);
        attention.add(levelAttn);
        depth.add(levelDepth);
        if (layers < 0) {
            layers = inLevel;
        }
        if (crossDim < 0) {
            throw new ModelFormatException(w.source() + ": the UNet has no cross-attention layers; not a Stable Diffusion UNet");
        }
        int n = channels.size();
        List<String> down = new ArrayList<>();
        List<String> up = new ArrayList<>();
        List<Integer> heads = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            down.add(attention.get(i) ? "CrossAttnDownBlock2D" : "DownBlock2D");
            up.add(attention.get(n - 1 - i) ? "CrossAttnUpBlock2D" : "UpBlock2D");
            int c = channels.get(i);
            heads.add(switch (family) {
                case SD1 -> 8;
                case SD2 -> Math.max(1, c / 64);
                case SDXL -> c % 64 == 0 ? c / 64 : 1 << i;
            });
        }
        String addition = null;
        int timeDim = 0;
        int addIn = 0;
        if (family == Family.SDXL) {
            addition = UNetConfig.TEXT_TIME;
            addIn = (int) shape(w, UNET + "label_emb.0.0.weight").get(1);
            int pooled = (int) shape(w, SDXL_TEXT2_PREFIX + "text_projection").get(1);
            timeDim = (addIn - pooled) / UNetConfig.TIME_IDS;
        }
        return new UNetConfig((int) convIn.get(1), (int) shape(w, UNET + "out.2.weight").get(0), channels, down, up, layers,
                heads, depth, crossDim, linear, family == Family.SD2, groups(channels, groupsOverride), d.normEps(),
                d.flipSinToCos(), d.freqShift(), (int) shape(w, UNET + "time_embed.0.weight").get(0),
                (int) convIn.get(2), (int) shape(w, UNET + "out.2.weight").get(2), d.downsamplePadding(),
                d.midBlockScaleFactor(), d.centerInputSample(), addition, timeDim, addIn, 0);
    }

    static VaeConfig vae(Weights w, Family family, Integer groupsOverride) {
        VaeConfig d = VaeConfig.parse("sd15-defaults/vae.json", resource("vae.json"));
        List<Integer> channels = new ArrayList<>();
        for (int i = 0; has(w, VAE + "encoder.down." + i + ".block.0.conv2.weight"); i++) {
            channels.add((int) shape(w, VAE + "encoder.down." + i + ".block.0.conv2.weight").get(0));
        }
        if (channels.isEmpty()) {
            throw new ModelFormatException(w.source() + ": missing tensor " + VAE + "encoder.down.0.block.0.conv2.weight");
        }
        int layers = 0;
        while (has(w, VAE + "encoder.down.0.block." + layers + ".conv1.weight")) {
            layers++;
        }
        return new VaeConfig((int) shape(w, VAE + "encoder.conv_in.weight").get(1),
                (int) shape(w, VAE + "decoder.conv_out.weight").get(0), channels, layers,
                (int) shape(w, VAE + "decoder.conv_in.weight").get(1), groups(channels, groupsOverride),
                family == Family.SDXL ? SDXL_VAE_SCALING : d.scalingFactor(), has(w, VAE + "quant_conv.weight"),
                has(w, VAE + "post_quant_conv.weight"), has(w, VAE + "encoder.mid.attn_1.q.weight"),
                true); // diffusers' force_upcast default (the SD 1.x/2.x pipelines ignore it)
    }

    private static int textHeads(int hidden, Family family) {
        if (hidden % 64 == 0) {
            return hidden / 64;
        }
        return family == Family.SDXL ? 2 : Math.max(1, hidden / 8);
    }

    private static ClipTextConfig clipText(Weights w, String prefix, Family family) {
        String p = prefix + "text_model.";
        if (!has(w, p + "embeddings.token_embedding.weight")) {
            p = prefix; // some files omit the text_model. level
        }
        Shape tok = shape(w, p + "embeddings.token_embedding.weight");
        int hidden = (int) tok.get(1);
        int layers = maxIndex(w, p + "encoder.layers.") + 1;
        return new ClipTextConfig((int) tok.get(0), hidden, (int) shape(w, p + "encoder.layers.0.mlp.fc1.weight").get(0),
                layers, textHeads(hidden, family), (int) shape(w, p + "embeddings.position_embedding.weight").get(0),
                "quick_gelu", 1e-5);
    }

    /** SDXL's OpenCLIP ViT-bigG: every layer kept (the pooled embedding needs the last), with projection. */
    private static ClipTextConfig sdxlText2(Weights w) {
        String p = SDXL_TEXT2_PREFIX;
        Shape tok = shape(w, p + "token_embedding.weight");
        int hidden = (int) tok.get(1);
        return new ClipTextConfig((int) tok.get(0), hidden, (int) shape(w, p + "transformer.resblocks.0.mlp.c_fc.weight").get(0),
                maxIndex(w, p + "transformer.resblocks.") + 1, textHeads(hidden, Family.SDXL),
                (int) shape(w, p + "positional_embedding").get(0), "gelu", 1e-5)
                .withProjection((int) shape(w, p + "text_projection").get(1));
    }

    /** SD 2.x: diffusers drops the last OpenCLIP layer (SD 2 conditions on the penultimate one). */
    private static ClipTextConfig openClipText(Weights w) {
        String p = OPENCLIP_PREFIX;
        Shape tok = shape(w, p + "token_embedding.weight");
        int hidden = (int) tok.get(1);
        int layers = maxIndex(w, p + "transformer.resblocks.");
        if (layers < 1) {
            throw new ModelFormatException(w.source() + ": the OpenCLIP text encoder needs at least 2 layers");
        }
        return new ClipTextConfig((int) tok.get(0), hidden, (int) shape(w, p + "transformer.resblocks.0.mlp.c_fc.weight").get(0),
                layers, textHeads(hidden, Family.SD2), (int) shape(w, p + "positional_embedding").get(0), "gelu", 1e-5);
    }

    private static int maxIndex(Weights w, String prefix) {
        int max = -1;
        for (String n : w.names()) {
            if (n.startsWith(prefix)) {
                String rest = n.substring(prefix.length());
                int dot = rest.indexOf('.');
                try {
                    max = Math.max(max, Integer.parseInt(dot < 0 ? rest : rest.substring(0, dot)));
                } catch (NumberFormatException e) {
                    // not a layer index
                }
            }
        }
        if (max < 0) {
            throw new ModelFormatException(w.source() + ": no tensors named " + prefix + "N.*");
        }
        return max;
    }
}
