package org.diffusionbot.worker.engine.loaders;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.AutoencoderKL;
import org.diffusionbot.worker.engine.models.ClipTextEncoder;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;
import org.diffusionbot.worker.engine.models.UNet2DConditionModel;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig.PredictionType;
import org.diffusionbot.worker.engine.text.ClipTokenizer;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;

/**
 * Loads a {@link StableDiffusionPipeline} from a diffusers folder (with {@code model_index.json})
 * or a single-file {@code .safetensors} checkpoint (SD 1.x or 2.x; architecture recognised by
 * {@link CheckpointArchitecture}). Pickled checkpoints ({@code .ckpt}, {@code .pt}, {@code .bin})
 * are refused: loading them can run arbitrary code. Every problem with the files is a {@link
 * ModelFormatException} with one message naming the file.
 */
public final class ModelLoader {
    /**
     * What a file cannot tell.
     *
     * @param predictionType overrides the model's prediction type (SD 2.x 768-px models are {@code
     *     v_prediction}; single files cannot say so); null: the scheduler config's, or epsilon
     * @param normNumGroups GroupNorm groups of single-file UNet and VAE; null: inferred
     */
    public record Options(PredictionType predictionType, Integer normNumGroups) {
        public static final Options DEFAULTS = new Options(null, null);
    }

    private ModelLoader() {}

    /** {@link #load(Path, DataType, Device, Options)} with defaults. */
    public static StableDiffusionPipeline load(Path path, DataType dtype, Device device) {
        return load(path, dtype, device, Options.DEFAULTS);
    }

    /**
     * @param path a diffusers pipeline folder or a single-file {@code .safetensors} checkpoint
     * @param dtype parameter and compute type (float32 on CPU, float16 on CUDA)
     * @param device where the model lives
     * @param options overrides
     * @return the pipeline; close it to free the weights
     * @throws ModelFormatException for a missing, unsupported or malformed model
     */
    public static StableDiffusionPipeline load(Path path, DataType dtype, Device device, Options options) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file or folder");
        }
        if (Files.isDirectory(path)) {
            return loadFolder(path, dtype, device, options);
        }
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        for (String ext : new String[] {".ckpt", ".pt", ".pth", ".bin", ".pkl"}) {
            if (name.endsWith(ext)) {
                throw new ModelFormatException(path + ": pickled PyTorch checkpoints (" + ext + ") are refused because "
                        + "loading them can run arbitrary code; convert it to .safetensors first (e.g. with diffusers' "
                        + "convert_original_stable_diffusion_to_diffusers.py --to_safetensors, or the A1111/ComfyUI "
                        + "model converter)");
            }
        }
        return loadSingleFile(path, dtype, device, options);
    }

    private static StableDiffusionPipeline loadFolder(Path dir, DataType dtype, Device device, Options options) {
        if (!Files.isRegularFile(dir.resolve("model_index.json"))) {
            throw new ModelFormatException(dir + ": no model_index.json, not a diffusers pipeline folder "
                    + "(give the folder that holds model_index.json, or a single .safetensors file)");
        }
        DiffusersLoader.refuseRefiner(dir);
        ClipTokenizer tokenizer = tokenizer(dir.resolve("tokenizer"));
        ClipTokenizer tokenizer2 = Files.isDirectory(dir.resolve("text_encoder_2")) ? tokenizer(dir.resolve("tokenizer_2")) : null;
        SchedulerConfig sc = SchedulerConfig.stableDiffusion();
        Path schedFile = dir.resolve("scheduler/scheduler_config.json");
        if (Files.isRegularFile(schedFile)) {
            try {
                sc = SchedulerConfig.fromFile(schedFile);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (RuntimeException e) {
                throw new ModelFormatException(schedFile + ": " + e.getMessage(), e);
            }
        }
        if (options.predictionType() != null) {
            sc = sc.withPredictionType(options.predictionType());
        }
        StableDiffusionModels models = DiffusersLoader.loadPipeline(dir, dtype, device);
        return new StableDiffusionPipeline(models, tokenizer, tokenizer2, sc, dtype, device, dir.toString());
    }

    private static ClipTokenizer tokenizer(Path dir) {
        try {
            return ClipTokenizer.fromDirectory(dir);
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException(dir + ": cannot load the tokenizer: " + e.getMessage(), e);
        }
    }

    private static StableDiffusionPipeline loadSingleFile(Path file, DataType dtype, Device device, Options options) {
        CheckpointArchitecture.Inferred arch;
        try (Weights all = Weights.open(file)) {
            arch = CheckpointArchitecture.infer(all, options.normNumGroups());
            if (arch.family() == CheckpointArchitecture.Family.SD1) {
                StableDiffusionModels models = SingleFileCheckpoint.load(file, arch.unet(), arch.vae(), arch.text(), dtype, device);
                return pipeline(file, arch, models, dtype, device, options, all);
            }
            if (arch.family() == CheckpointArchitecture.Family.SDXL) {
                return pipeline(file, arch, loadSdxl(all, arch, dtype, device), dtype, device, options, all);
            }
            return pipeline(file, arch, loadSd2(all, arch, dtype, device), dtype, device, options, all);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": unsupported model: " + e.getMessage(), e);
        }
    }

    /**
     * The bundled scheduler config, adjusted by the markers finetunes put in single files (as
     * ComfyUI and Automatic1111 read them): an empty {@code v_pred} tensor means v-prediction, an empty
     * {@code ztsnr} tensor zero-terminal-SNR training ({@link SchedulerConfig#withZeroTerminalSnr()}).
     */
    private static StableDiffusionPipeline pipeline(Path file, CheckpointArchitecture.Inferred arch,
            StableDiffusionModels models, DataType dtype, Device device, Options options, Weights all) {
        SchedulerConfig sc = SchedulerConfig.fromJson(CheckpointArchitecture.resource("scheduler.json"));
        if (all.get("v_pred") != null) {
            sc = sc.withPredictionType(PredictionType.V_PREDICTION);
        }
        if (all.get("ztsnr") != null) {
            sc = sc.withZeroTerminalSnr();
        }
        if (options.predictionType() != null) {
            sc = sc.withPredictionType(options.predictionType());
        }
        ClipTokenizer tokenizer2 = arch.text2() != null ? ClipTokenizer.bundled(0) : null; // SDXL's OpenCLIP pads with '!'
        return new StableDiffusionPipeline(models, ClipTokenizer.bundled(arch.tokenizerPadId()), tokenizer2, sc, dtype,
                device, file + " (" + arch.family() + ")");
    }

    private static StableDiffusionModels loadSd2(Weights all, CheckpointArchitecture.Inferred arch, DataType dtype,
            Device device) {
        NDManager manager = NDManager.newBaseManager(device);
        try {
            Weights text = openClipText(all, CheckpointArchitecture.OPENCLIP_PREFIX, arch.text().numHiddenLayers(), false);
            ClipTextEncoder te = new ClipTextEncoder(arch.text(), text, manager.newSubManager(), dtype, device);
            text.verify();
            Weights u = SingleFileCheckpoint.unet(all, arch.unet());
            UNet2DConditionModel unet = new UNet2DConditionModel(arch.unet(), u, manager.newSubManager(), dtype, device);
            u.verify();
            Weights v = SingleFileCheckpoint.vae(all, arch.vae());
            AutoencoderKL vae = new AutoencoderKL(arch.vae(), v, manager.newSubManager(), dtype, device);
            v.verify();
            return new StableDiffusionModels(manager, te, unet, vae);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * SDXL single file: text encoder 1 ({@code conditioner.embedders.0.transformer.*}), text encoder 2
     * (OpenCLIP, {@code conditioner.embedders.1.model.*}), the SGM UNet with {@code label_emb}, the VAE.
     */
    static StableDiffusionModels loadSdxl(Weights all, CheckpointArchitecture.Inferred arch, DataType dtype,
            Device device) {
        NDManager manager = NDManager.newBaseManager(device);
        try {
            Weights t1 = SingleFileCheckpoint.textEncoder(all, CheckpointArchitecture.SDXL_TEXT1_PREFIX);
            ClipTextEncoder te1 = new ClipTextEncoder(arch.text(), t1, manager.newSubManager(), dtype, device);
            t1.verify();
            Weights t2 = openClipText(all, CheckpointArchitecture.SDXL_TEXT2_PREFIX, arch.text2().numHiddenLayers(), true);
            ClipTextEncoder te2 = new ClipTextEncoder(arch.text2(), t2, manager.newSubManager(), dtype, device);
            t2.verify();
            Weights u = SingleFileCheckpoint.unet(all, arch.unet());
            UNet2DConditionModel unet = new UNet2DConditionModel(arch.unet(), u, manager.newSubManager(), dtype, device);
            u.verify();
            Weights v = SingleFileCheckpoint.vae(all, arch.vae());
            AutoencoderKL vae = new AutoencoderKL(arch.vae(), v, manager.newSubManager(),
                    AutoencoderKL.sdxlDtype(arch.vae(), dtype), device);
            v.verify();
            return new StableDiffusionModels(manager, te1, te2, unet, vae);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
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
