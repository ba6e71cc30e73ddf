package org.diffusionbot.worker.engine.loaders;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
import org.diffusionbot.worker.engine.pipeline.PipelineOptions;

/**
 * Loads models from the diffusers folder layout ({@code model_index.json}, {@code unet/},
 * {@code vae/}, {@code text_encoder/}, each with {@code config.json} and {@code
 * diffusion_pytorch_model.safetensors} or {@code model.safetensors}, or their {@code .fp16}
 * variants). Every tensor is validated: missing, unexpected or mis-shaped tensors raise a
 * {@link ModelFormatException} naming them.
 *
 * <p>A folder is read into {@link ModelParts} ({@link #parts}) and built by {@link ModelAssembly}, the
 * path the single-file checkpoint takes too once its names are mapped ({@link SingleFileCheckpoint#parts}).
 */
public final class DiffusersLoader {
    private static final List<String> WEIGHT_FILES = List.of(
            "diffusion_pytorch_model.safetensors", "model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors");
    private static final Pattern LEGACY_VAE_ATTENTION =
            Pattern.compile("^((?:encoder|decoder)\\.mid_block\\.attentions\\.0)\\.(query|key|value|proj_attn)\\.(weight|bias)$");

    private DiffusersLoader() {}

    /**
     * Loads text encoder, UNet and VAE of a diffusers pipeline folder, laid out as {@link PipelineOptions#DEFAULTS}
     * say.
     *
     * @param dir the folder holding {@code model_index.json}
     * @param dtype parameter and compute type (float32 on CPU)
     * @param device parameter and compute device
     * @return the models; close to free their memory
     */
    public static StableDiffusionModels loadPipeline(Path dir, DataType dtype, Device device) {
        return loadPipeline(dir, dtype, device, null, PipelineOptions.DEFAULTS);
    }

    /**
     * {@link #loadPipeline(Path, DataType, Device)} with a separate VAE in place of {@code vae/} and the given layout.
     *
     * @param vaeFile a VAE for {@link VaeFile}, or null for the folder's own
     * @param options the parts' layout ({@link PipelineOptions#channelsLastFor})
     */
    public static StableDiffusionModels loadPipeline(Path dir, DataType dtype, Device device, Path vaeFile,
            PipelineOptions options) {
        if (!Files.isRegularFile(dir.resolve("model_index.json"))) {
            throw new ModelFormatException(dir + ": no model_index.json, not a diffusers pipeline folder");
        }
        refuseRefiner(dir);
        try (ModelParts parts = parts(dir, vaeFile == null)) {
            return ModelAssembly.assemble(parts, dtype, device, vaeFile, options);
        }
    }

    /**
     * The folder's parts: each component's config and weights file, opened (the tensors are read when built).
     * StableDiffusionXLPipeline declares {@code text_encoder_2} a CLIPTextModelWithProjection.
     *
     * @param withVae whether to open {@code vae/}'s weights (not when a separate VAE replaces them; its config is read)
     */
    static ModelParts parts(Path dir, boolean withVae) {
        List<Weights> opened = new ArrayList<>();
        try {
            ModelParts.Part<ClipTextConfig> text = textEncoderPart(dir.resolve("text_encoder"), false, opened);
            ModelParts.Part<ClipTextConfig> text2 = Files.isDirectory(dir.resolve("text_encoder_2"))
                    ? textEncoderPart(dir.resolve("text_encoder_2"), true, opened) : null;
            ModelParts.Part<UNetConfig> unet = unetPart(dir.resolve("unet"), opened);
            ModelParts.Part<VaeConfig> vae = withVae ? vaePart(dir.resolve("vae"), opened)
                    : new ModelParts.Part<>(VaeConfig.load(config(dir.resolve("vae"))), null);
            return new ModelParts(dir.toString(), text, text2, unet, vae, List.copyOf(opened));
        } catch (RuntimeException e) {
            opened.forEach(Weights::close);
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

    /**
     * {@link #loadUNet(Path, NDManager, DataType, Device, PipelineOptions)} laid out as {@link
     * PipelineOptions#DEFAULTS} say.
     */
    public static UNet2DConditionModel loadUNet(Path componentDir, NDManager manager, DataType dtype, Device device) {
        return loadUNet(componentDir, manager, dtype, device, PipelineOptions.DEFAULTS);
    }

    /**
     * @param componentDir e.g. {@code .../unet}
     * @param manager owner of the parameters
     * @param dtype parameter type
     * @param device parameter device
     * @param options its layout ({@link PipelineOptions#channelsLastFor})
     * @return the UNet
     */
    public static UNet2DConditionModel loadUNet(Path componentDir, NDManager manager, DataType dtype, Device device,
            PipelineOptions options) {
        boolean channelsLast = options.channelsLastFor(dtype, device);
        return buildOne(o -> unetPart(componentDir, o),
                (c, w, m) -> new UNet2DConditionModel(c, w, m, dtype, device, channelsLast), manager);
    }

    /**
     * {@link #loadVae(Path, NDManager, DataType, Device, PipelineOptions)} laid out as {@link
     * PipelineOptions#DEFAULTS} say.
     */
    public static AutoencoderKL loadVae(Path componentDir, NDManager manager, DataType dtype, Device device) {
        return loadVae(componentDir, manager, dtype, device, PipelineOptions.DEFAULTS);
    }

    /**
     * Loads the VAE, accepting the old attention names ({@code query, key, value, proj_attn}).
     *
     * @param componentDir e.g. {@code .../vae}
     * @param manager owner of the parameters
     * @param dtype parameter type
     * @param device parameter device
     * @param options its layout ({@link PipelineOptions#channelsLastFor})
     * @return the VAE
     */
    public static AutoencoderKL loadVae(Path componentDir, NDManager manager, DataType dtype, Device device,
            PipelineOptions options) {
        boolean channelsLast = options.channelsLastFor(dtype, device);
        return buildOne(o -> vaePart(componentDir, o),
                (c, w, m) -> new AutoencoderKL(c, w, m, dtype, device, channelsLast), manager);
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
        return buildOne(o -> textEncoderPart(componentDir, withProjection, o),
                (c, w, m) -> new ClipTextEncoder(c, w, m, dtype, device), manager);
    }

    private static ModelParts.Part<UNetConfig> unetPart(Path componentDir, List<Weights> opened) {
        UNetConfig cfg = UNetConfig.load(config(componentDir));
        return new ModelParts.Part<>(cfg, open(componentDir, opened));
    }

    /** The VAE, accepting the old attention names ({@code query, key, value, proj_attn}). */
    private static ModelParts.Part<VaeConfig> vaePart(Path componentDir, List<Weights> opened) {
        VaeConfig cfg = VaeConfig.load(config(componentDir));
        return new ModelParts.Part<>(cfg, open(componentDir, opened).renamed(DiffusersLoader::renameLegacyVaeAttention));
    }

    /** A CLIP text encoder ({@code text_model.embeddings.position_ids} is ignored). */
    private static ModelParts.Part<ClipTextConfig> textEncoderPart(Path componentDir, boolean withProjection,
            List<Weights> opened) {
        Path file = config(componentDir);
        ClipTextConfig cfg = ClipTextConfig.parse(file.toString(), ConfigJson.text(file), withProjection);
        return new ModelParts.Part<>(cfg, open(componentDir, opened).ignoreUnused(n -> n.endsWith("embeddings.position_ids")));
    }

    /** Opens a component's weights file and records it in {@code opened}. */
    private static Weights open(Path componentDir, List<Weights> opened) {
        Weights w = Weights.open(weightsFile(componentDir));
        opened.add(w);
        return w;
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

    /** Builds one component ({@link ModelAssembly#build}), closing its file afterwards. */
    private static <C, T> T buildOne(Function<List<Weights>, ModelParts.Part<C>> part,
            ModelAssembly.Builder<C, T> builder, NDManager manager) {
        List<Weights> opened = new ArrayList<>();
        try {
            return ModelAssembly.build(part.apply(opened), builder, manager);
        } finally {
            opened.forEach(Weights::close);
        }
    }
}
