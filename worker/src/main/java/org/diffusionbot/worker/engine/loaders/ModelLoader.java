package org.diffusionbot.worker.engine.loaders;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.ClipTextConfig;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;
import org.diffusionbot.worker.engine.models.UNetConfig;
import org.diffusionbot.worker.engine.models.VaeConfig;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig.PredictionType;
import org.diffusionbot.worker.engine.text.ClipTokenizer;
import org.diffusionbot.worker.engine.pipeline.PipelineOptions;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads a {@link StableDiffusionPipeline} from a diffusers folder (with {@code model_index.json})
 * or a single-file {@code .safetensors} checkpoint (SD 1.x, 2.x or XL; architecture recognised by
 * {@link CheckpointArchitecture}), optionally with a separate VAE ({@link Options#vae()}, {@link
 * VaeFile}). Pickled checkpoints ({@code .ckpt}, {@code .pt}, {@code .bin}) are refused: loading
 * them can run arbitrary code. So are models this pipeline cannot run (inpainting and
 * instruct-pix2pix UNets, {@link #checkRunnable}), which {@link #check} finds without reading the
 * weights. Every problem with the files is a {@link ModelFormatException} with one message naming
 * the file.
 */
public final class ModelLoader {
    private static final Logger LOG = LoggerFactory.getLogger(ModelLoader.class);

    /**
     * What a file cannot tell.
     *
     * @param predictionType overrides the model's prediction type (SD 2.x 768-px models are {@code
     *     v_prediction}); null: the scheduler config's, or for single files the file's markers
     *     ({@link #singleFileScheduler})
     * @param normNumGroups GroupNorm groups of single-file UNet and VAE; null: inferred
     * @param vae a VAE to use instead of the model's own ({@link VaeFile}: a diffusers {@code vae/}
     *     folder or a {@code .safetensors} file in diffusers or single-file naming), or null
     * @param pipeline how the pipeline is laid out and runs (channels-last parts, CUDA graphs, decode batch, LoRA
     *     cache); null: {@link PipelineOptions#fromSettings()}, read once at load
     */
    public record Options(PredictionType predictionType, Integer normNumGroups, Path vae, PipelineOptions pipeline) {
        public static final Options DEFAULTS = new Options(null, null, null, null);

        /** Without a separate VAE. */
        public Options(PredictionType predictionType, Integer normNumGroups) {
            this(predictionType, normNumGroups, null, null);
        }

        /** With the pipeline options of the settings. */
        public Options(PredictionType predictionType, Integer normNumGroups, Path vae) {
            this(predictionType, normNumGroups, vae, null);
        }

        /** @return these options with {@code vae} as the separate VAE (null: the model's own) */
        public Options withVae(Path vae) {
            return new Options(predictionType, normNumGroups, vae, pipeline);
        }

        /** @return the pipeline options, or the settings' when none were given */
        PipelineOptions pipelineOrSettings() {
            return pipeline != null ? pipeline : PipelineOptions.fromSettings();
        }
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
     * @throws ModelFormatException for a missing, unsupported, unrunnable or malformed model or VAE
     */
    public static StableDiffusionPipeline load(Path path, DataType dtype, Device device, Options options) {
        refuseUnreadable(path, options);
        if (Files.isDirectory(path)) {
            return loadFolder(path, dtype, device, options);
        }
        return loadSingleFile(path, dtype, device, options);
    }

    /**
     * Everything {@link #load} would refuse that can be told from the file headers and configs alone
     * (no weights are read): a missing path, a pickle, not a Stable Diffusion model, the SDXL refiner,
     * an inpainting or instruct-pix2pix UNet, a missing or unreadable separate VAE. A worker checks
     * every model it serves with this before it announces any, so that no job is sent to a model that
     * cannot run it. Malformed tensors are still found only by {@link #load}.
     *
     * It also says what the loaded model will be ({@link Checked}): its family and native size, by the
     * pipeline's own rules ({@link StableDiffusionPipeline#family(boolean, String)}, {@link
     * StableDiffusionPipeline#nativeSize(ModelFamily, int, PredictionType)}) from the folder's configs or the file's
     * tensor names, shapes and markers, so that a worker can describe a model it has not loaded.
     *
     * @param path as for {@link #load}
     * @param options as for {@link #load} ({@link Options#vae()}, the GroupNorm override and the prediction type
     *     matter)
     * @return what the model is
     * @throws ModelFormatException naming the file and what it is
     */
    public static Checked check(Path path, Options options) {
        refuseUnreadable(path, options);
        if (Files.isDirectory(path)) {
            checkFolder(path);
            UNetConfig unet = UNetConfig.load(path.resolve("unet/config.json"));
            checkRunnable(path.toString(), unet, VaeConfig.load(path.resolve("vae/config.json")));
            boolean two = Files.isDirectory(path.resolve("text_encoder_2"));
            ModelFamily family = StableDiffusionPipeline.family(two,
                    ClipTextConfig.load(path.resolve("text_encoder/config.json")).hiddenAct());
            return new Checked(family, StableDiffusionPipeline.nativeSize(family, unet.sampleSize(),
                    folderScheduler(path, options).predictionType()), (two ? "SDXL" : "SD") + " diffusers folder");
        }
        try (Weights all = Weights.open(path)) {
            CheckpointArchitecture.Inferred arch = CheckpointArchitecture.infer(all, options.normNumGroups());
            checkRunnable(path.toString(), arch.unet(), arch.vae());
            ModelFamily family = StableDiffusionPipeline.family(arch.text2() != null, arch.text().hiddenAct());
            return new Checked(family, StableDiffusionPipeline.nativeSize(family, arch.unet().sampleSize(),
                    singleFileScheduler(all, arch.family(), options).predictionType()), arch.family() + " single file");
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(path + ": unsupported model: " + e.getMessage(), e);
        }
    }

    /**
     * What {@link #check} found: what the model will be once loaded.
     *
     * @param family as {@link StableDiffusionPipeline#family()} will say
     * @param nativeSize as {@link StableDiffusionPipeline#nativeSize()} will say (pixels, the side of a square)
     * @param summary a short description for logs, e.g. {@code "SD1 single file"}
     */
    public record Checked(ModelFamily family, int nativeSize, String summary) {
        @Override
        public String toString() {
            return summary + " (" + family.label() + ", " + nativeSize + "x" + nativeSize + ")";
        }
    }

    /**
     * Refuses a UNet that does not take and give exactly the VAE's latents, naming what the model is:
     * inpainting models (diffusers' {@code StableDiffusionInpaintPipeline}: latent + mask + masked-image
     * latent channels, 9 for SD) and instruct-pix2pix models ({@code StableDiffusionInstructPix2PixPipeline}:
     * latent + image latent channels, 8) need inputs that txt2img and img2img jobs do not have.
     *
     * @param source the model, for the message
     * @param unet its UNet config ({@code in_channels}, {@code out_channels})
     * @param vae its VAE config ({@code latent_channels})
     * @throws ModelFormatException when the channels do not match
     */
    public static void checkRunnable(String source, UNetConfig unet, VaeConfig vae) {
        int lat = vae.latentChannels();
        int in = unet.inChannels();
        if (in == lat && unet.outChannels() == lat) {
            return;
        }
        String what;
        if (in == 2 * lat + 1) {
            what = "an inpainting model (" + in + "-channel UNet input: latents, mask and masked-image latents)";
        } else if (in == 2 * lat) {
            what = "an instruct-pix2pix model (" + in + "-channel UNet input: latents and the input image's latents)";
        } else {
            what = "a model whose UNet takes " + in + " and gives " + unet.outChannels() + " channels";
        }
        throw new ModelFormatException(source + ": this is " + what + ", which this worker cannot run: txt2img and "
                + "img2img need a UNet on the VAE's " + lat + " latent channels; use the base (non-inpainting) "
                + "version of the model");
    }

    private static void refuseUnreadable(Path path, Options options) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file or folder");
        }
        if (!Files.isDirectory(path)) {
            String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
            for (String ext : new String[] {".ckpt", ".pt", ".pth", ".bin", ".pkl"}) {
                if (name.endsWith(ext)) {
                    throw new ModelFormatException(path + ": pickled PyTorch checkpoints (" + ext + ") are refused "
                            + "because loading them can run arbitrary code; convert it to .safetensors first (e.g. with "
                            + "diffusers' convert_original_stable_diffusion_to_diffusers.py --to_safetensors, or the "
                            + "A1111/ComfyUI model converter)");
                }
            }
        }
        if (options.vae() != null) {
            VaeFile.check(options.vae());
        }
    }

    private static void checkFolder(Path dir) {
        if (!Files.isRegularFile(dir.resolve("model_index.json"))) {
            throw new ModelFormatException(dir + ": no model_index.json, not a diffusers pipeline folder "
                    + "(give the folder that holds model_index.json, or a single .safetensors file)");
        }
        DiffusersLoader.refuseRefiner(dir);
    }

    private static StableDiffusionPipeline loadFolder(Path dir, DataType dtype, Device device, Options options) {
        checkFolder(dir);
        checkRunnable(dir.toString(), UNetConfig.load(dir.resolve("unet/config.json")),
                VaeConfig.load(dir.resolve("vae/config.json")));
        ClipTokenizer tokenizer = tokenizer(dir.resolve("tokenizer"));
        ClipTokenizer tokenizer2 = Files.isDirectory(dir.resolve("text_encoder_2")) ? tokenizer(dir.resolve("tokenizer_2")) : null;
        SchedulerConfig sc = folderScheduler(dir, options);
        PipelineOptions pipeline = options.pipelineOrSettings();
        StableDiffusionModels models = DiffusersLoader.loadPipeline(dir, dtype, device, options.vae(), pipeline);
        return new StableDiffusionPipeline(models, tokenizer, tokenizer2, sc, dtype, device, describe(dir.toString(), options),
                pipeline);
    }

    /** A folder's {@code scheduler/scheduler_config.json} (SD's defaults without one), with the prediction override. */
    private static SchedulerConfig folderScheduler(Path dir, Options options) {
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
        return sc;
    }

    private static String describe(String model, Options options) {
        return options.vae() == null ? model : model + " with VAE " + options.vae();
    }

    private static ClipTokenizer tokenizer(Path dir) {
        try {
            return ClipTokenizer.fromDirectory(dir);
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException(dir + ": cannot load the tokenizer: " + e.getMessage(), e);
        }
    }

    private static StableDiffusionPipeline loadSingleFile(Path file, DataType dtype, Device device, Options options) {
        try (Weights all = Weights.open(file)) {
            CheckpointArchitecture.Inferred arch = CheckpointArchitecture.infer(all, options.normNumGroups());
            checkRunnable(file.toString(), arch.unet(), arch.vae());
            SchedulerConfig sc = singleFileScheduler(all, arch.family(), options);
            PipelineOptions pipeline = options.pipelineOrSettings();
            StableDiffusionModels models = ModelAssembly.assemble(SingleFileCheckpoint.parts(all, arch, options.vae() == null),
                    dtype, device, options.vae(), pipeline);
            ClipTokenizer tokenizer2 = arch.text2() != null ? ClipTokenizer.bundled(0) : null; // SDXL's OpenCLIP pads with '!'
            return new StableDiffusionPipeline(models, ClipTokenizer.bundled(arch.tokenizerPadId()), tokenizer2, sc, dtype,
                    device, describe(file + " (" + arch.family() + ")", options), pipeline);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": unsupported model: " + e.getMessage(), e);
        }
    }

    /**
     * The scheduler config of a single file: the bundled SD one, with the prediction type decided (and
     * logged) in this order: {@link Options#predictionType()}; an empty {@code v_pred} tensor
     * (v-prediction, as ComfyUI and Automatic1111 read it); the safetensors metadata {@code
     * modelspec.prediction_type} (Stability's model spec: {@code epsilon} or {@code v}; {@code
     * v_prediction} also read); else the family's default: SD 2.x single files are v-prediction, as
     * diffusers' {@code from_single_file} infers for them (the SD 2.x 768-px models; the 512-px base
     * models need {@code epsilon} set by hand), SD 1.x and SDXL epsilon. An empty {@code ztsnr} tensor
     * means zero-terminal-SNR training ({@link SchedulerConfig#withZeroTerminalSnr()}).
     *
     * @param all every tensor of the file (with its metadata)
     * @param family the model family
     * @param options the override
     * @return the scheduler config
     */
    static SchedulerConfig singleFileScheduler(Weights all, CheckpointArchitecture.Family family, Options options) {
        SchedulerConfig sc = SchedulerConfig.fromJson(CheckpointArchitecture.resource("scheduler.json"));
        PredictionType type;
        String why;
        String spec = all.metadata().get("modelspec.prediction_type");
        if (options.predictionType() != null) {
            type = options.predictionType();
            why = "set by PREDICTION_TYPE / --prediction";
        } else if (all.get("v_pred") != null) {
            type = PredictionType.V_PREDICTION;
            why = "the file's v_pred marker";
        } else if (spec != null && modelSpecPrediction(spec) != null) {
            type = modelSpecPrediction(spec);
            why = "the file's modelspec.prediction_type '" + spec + "'";
        } else if (family == CheckpointArchitecture.Family.SD2) {
            type = PredictionType.V_PREDICTION;
            why = "guessed: an SD 2.x single file without a marker, v-prediction as diffusers infers (the 768-px "
                    + "models); set PREDICTION_TYPE=epsilon (imagine: --prediction epsilon) for a 512-px base model";
        } else {
            type = PredictionType.EPSILON;
            why = "no marker in the file, the " + family + " default";
        }
        if (spec != null && modelSpecPrediction(spec) == null) {
            LOG.warn("{}: modelspec.prediction_type '{}' is not one this worker knows (epsilon, v); ignored",
                    all.source(), spec);
        }
        sc = sc.withPredictionType(type);
        boolean ztsnr = all.get("ztsnr") != null;
        if (ztsnr) {
            sc = sc.withZeroTerminalSnr();
        }
        LOG.info("{}: prediction type {} ({}){}", all.source(), type.name().toLowerCase(Locale.ROOT), why,
                ztsnr ? ", zero-terminal-SNR (the file's ztsnr marker)" : "");
        return sc;
    }

    /** {@code modelspec.prediction_type} values: {@code epsilon}, {@code v} (also v_prediction, vpred); else null. */
    static PredictionType modelSpecPrediction(String value) {
        return switch (value.strip().toLowerCase(Locale.ROOT).replace('-', '_')) {
            case "epsilon", "eps" -> PredictionType.EPSILON;
            case "v", "v_prediction", "vpred", "v_pred" -> PredictionType.V_PREDICTION;
            default -> null;
        };
    }
}
