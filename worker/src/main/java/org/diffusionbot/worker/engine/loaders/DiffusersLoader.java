package org.diffusionbot.worker.engine.loaders;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.AutoencoderKL;
import org.diffusionbot.worker.engine.models.ClipTextConfig;
import org.diffusionbot.worker.engine.models.ClipTextEncoder;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;
import org.diffusionbot.worker.engine.models.UNet2DConditionModel;
import org.diffusionbot.worker.engine.models.UNetConfig;
import org.diffusionbot.worker.engine.models.VaeConfig;

/**
 * Loads models from the diffusers folder layout ({@code model_index.json}, {@code unet/},
 * {@code vae/}, {@code text_encoder/}, each with {@code config.json} and {@code
 * diffusion_pytorch_model.safetensors} or {@code model.safetensors}, or their {@code .fp16}
 * variants). Every tensor is validated: missing, unexpected or mis-shaped tensors raise a
 * {@link ModelFormatException} naming them.
 *
 * <p>The {@code *(config, Weights, ...)} methods take already-named weights, so another layout (the
 * single-file checkpoint) only needs to map its names to diffusers names in front of them.
 */
public final class DiffusersLoader {
    private static final List<String> WEIGHT_FILES = List.of(
            "diffusion_pytorch_model.safetensors", "model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors");
    private static final Pattern LEGACY_VAE_ATTENTION =
            Pattern.compile("^((?:encoder|decoder)\\.mid_block\\.attentions\\.0)\\.(query|key|value|proj_attn)\\.(weight|bias)$");

    private DiffusersLoader() {}

    /**
     * Loads text encoder, UNet and VAE of a diffusers pipeline folder.
     *
     * @param dir the folder holding {@code model_index.json}
     * @param dtype parameter and compute type (float32 on CPU)
     * @param device parameter and compute device
     * @return the models; close to free their memory
     */
    public static StableDiffusionModels loadPipeline(Path dir, DataType dtype, Device device) {
        return loadPipeline(dir, dtype, device, null);
    }

    /**
     * {@link #loadPipeline(Path, DataType, Device)} with a separate VAE in place of {@code vae/}.
     *
     * @param vaeFile a VAE for {@link VaeFile}, or null for the folder's own
     */
    public static StableDiffusionModels loadPipeline(Path dir, DataType dtype, Device device, Path vaeFile) {
        if (!Files.isRegularFile(dir.resolve("model_index.json"))) {
            throw new ModelFormatException(dir + ": no model_index.json, not a diffusers pipeline folder");
        }
        refuseRefiner(dir);
        NDManager manager = NDManager.newBaseManager(device);
        try {
            ClipTextEncoder text = loadTextEncoder(dir.resolve("text_encoder"), manager, dtype, device);
            // StableDiffusionXLPipeline declares text_encoder_2 a CLIPTextModelWithProjection
            ClipTextEncoder text2 = Files.isDirectory(dir.resolve("text_encoder_2"))
                    ? loadTextEncoder(dir.resolve("text_encoder_2"), true, manager, dtype, device) : null;
            UNet2DConditionModel unet = loadUNet(dir.resolve("unet"), manager, dtype, device);
            VaeConfig ownVae = VaeConfig.load(config(dir.resolve("vae")));
            boolean sdxl = text2 != null;
            // SDXL: the VAE in float32 when its config says force_upcast, as diffusers' SDXL pipeline upcasts it
            AutoencoderKL vae = VaeFile.loadOr(vaeFile, ownVae, sdxl, manager, dtype, device, owner -> loadVae(
                    dir.resolve("vae"), owner, sdxl ? AutoencoderKL.sdxlDtype(ownVae, dtype) : dtype, device));
            checkSdxl(dir, text, text2, unet);
            return new StableDiffusionModels(manager, text, text2, unet, vae);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /** The SDXL refiner's folder has no first text encoder ({@code "text_encoder": [null, null]}). */
    static void refuseRefiner(Path dir) {
        if (!Files.isDirectory(dir.resolve("text_encoder")) && Files.isDirectory(dir.resolve("text_encoder_2"))) {
            throw new ModelFormatException(dir + ": this is an SDXL refiner (one OpenCLIP text encoder, aesthetic-score "
                    + "conditioning), which is not supported; use an SDXL base model or a finetune of it");
        }
    }

    /** SDXL's parts fit together: a text_time UNet has a second encoder whose projection it takes. */
    private static void checkSdxl(Path dir, ClipTextEncoder text, ClipTextEncoder text2, UNet2DConditionModel unet) {
        UNetConfig u = unet.config();
        if (!u.hasTextTime()) {
            if (text2 != null) {
                throw new ModelFormatException(dir + ": text_encoder_2/ is present but the UNet takes no pooled text "
                        + "embedding (addition_embed_type is not text_time)");
            }
            return;
        }
        if (text2 == null || text2.config().projectionDim() == 0) {
            throw new ModelFormatException(dir + ": the UNet (addition_embed_type text_time) needs text_encoder_2/ "
                    + "(CLIPTextModelWithProjection)");
        }
        int ctx = text.config().hiddenSize() + text2.config().hiddenSize();
        if (ctx != u.crossAttentionDim() || text2.config().projectionDim() != u.pooledDim()) {
            throw new ModelFormatException(dir + ": text encoders (hidden " + text.config().hiddenSize() + " + "
                    + text2.config().hiddenSize() + ", projection " + text2.config().projectionDim() + ") do not fit the UNet "
                    + "(cross_attention_dim " + u.crossAttentionDim() + ", pooled width " + u.pooledDim() + ")");
        }
    }

    /**
     * @param componentDir e.g. {@code .../unet}
     * @param manager owner of the parameters
     * @param dtype parameter type
     * @param device parameter device
     * @return the UNet
     */
    public static UNet2DConditionModel loadUNet(Path componentDir, NDManager manager, DataType dtype, Device device) {
        UNetConfig cfg = UNetConfig.load(config(componentDir));
        return build(componentDir, Function.identity(), m -> w -> new UNet2DConditionModel(cfg, w, m, dtype, device), manager);
    }

    /**
     * Loads the VAE, accepting the old attention names ({@code query, key, value, proj_attn}).
     *
     * @param componentDir e.g. {@code .../vae}
     * @param manager owner of the parameters
     * @param dtype parameter type
     * @param device parameter device
     * @return the VAE
     */
    public static AutoencoderKL loadVae(Path componentDir, NDManager manager, DataType dtype, Device device) {
        VaeConfig cfg = VaeConfig.load(config(componentDir));
        return build(componentDir, w -> w.renamed(DiffusersLoader::renameLegacyVaeAttention),
                m -> w -> new AutoencoderKL(cfg, w, m, dtype, device), manager);
    }

    /**
     * Loads the CLIP text encoder ({@code text_model.embeddings.position_ids} is ignored).
     *
     * @param componentDir e.g. {@code .../text_encoder}
     * @param manager owner of the parameters
     * @param dtype parameter type
     * @param device parameter device
     * @return the text encoder
     */
    public static ClipTextEncoder loadTextEncoder(Path componentDir, NDManager manager, DataType dtype, Device device) {
        return loadTextEncoder(componentDir, false, manager, dtype, device);
    }

    /**
     * @param withProjection a {@code CLIPTextModelWithProjection} whatever its config's {@code architectures}
     *     says (SDXL's {@code text_encoder_2}); else as the config says
     */
    public static ClipTextEncoder loadTextEncoder(Path componentDir, boolean withProjection, NDManager manager,
            DataType dtype, Device device) {
        Path file = config(componentDir);
        ClipTextConfig cfg = ClipTextConfig.parse(file.toString(), ConfigJson.text(file), withProjection);
        return build(componentDir, w -> w.ignoreUnused(n -> n.endsWith("embeddings.position_ids")),
                m -> w -> new ClipTextEncoder(cfg, w, m, dtype, device), manager);
    }

    /**
     * Maps the VAE mid-block attention names of older diffusers repositories to current ones.
     *
     * @param name a VAE tensor name
     * @return the current name ({@code to_q, to_k, to_v, to_out.0}), or the name unchanged
     */
    public static String renameLegacyVaeAttention(String name) {
        Matcher m = LEGACY_VAE_ATTENTION.matcher(name);
        if (!m.matches()) {
            return name;
        }
        String proj = switch (m.group(2)) {
            case "query" -> "to_q";
            case "key" -> "to_k";
            case "value" -> "to_v";
            default -> "to_out.0";
        };
        return m.group(1) + "." + proj + "." + m.group(3);
    }

    /**
     * @param componentDir a component folder
     * @return its weights file, preferring the full-precision name over {@code .fp16}
     */
    public static Path weightsFile(Path componentDir) {
        for (String f : WEIGHT_FILES) {
            Path p = componentDir.resolve(f);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        for (String f : List.of("diffusion_pytorch_model.bin", "pytorch_model.bin", "model.ckpt")) {
            if (Files.isRegularFile(componentDir.resolve(f))) {
                throw new ModelFormatException(componentDir.resolve(f) + ": pickled PyTorch weights are refused "
                        + "(they can run arbitrary code); convert the model to .safetensors");
            }
        }
        throw new ModelFormatException(componentDir + ": no weights file (expected one of " + WEIGHT_FILES + ")");
    }

    static Path config(Path componentDir) {
        Path p = componentDir.resolve("config.json");
        if (!Files.isRegularFile(p)) {
            throw new ModelFormatException(componentDir + ": no config.json");
        }
        return p;
    }

    private static <T> T build(Path componentDir, Function<Weights, Weights> mapping,
            Function<NDManager, Function<Weights, T>> ctor, NDManager manager) {
        try (Weights file = Weights.open(weightsFile(componentDir))) {
            Weights w = mapping.apply(file);
            // parameters live in a child of the caller's manager: freed with it, or at once on failure
            NDManager owner = manager.newSubManager();
            try {
                T model = ctor.apply(owner).apply(w);
                w.verify();
                return model;
            } catch (RuntimeException e) {
                owner.close();
                throw e;
            }
        }
    }
}
