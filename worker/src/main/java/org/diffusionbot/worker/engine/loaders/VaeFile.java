package org.diffusionbot.worker.engine.loaders;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Function;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.AutoencoderKL;
import org.diffusionbot.worker.engine.models.VaeConfig;
import org.diffusionbot.worker.engine.pipeline.PipelineOptions;

/**
 * A VAE given apart from the model ({@code VAE_PATH}, {@code imagine --vae FILE}), as users swap VAEs
 * (the SD 1.5 ft-MSE VAE, fp16-safe SDXL VAEs); it replaces the model's own as diffusers' {@code
 * pipe.vae = AutoencoderKL...} does. Accepted:
 * <ul>
 *   <li>a diffusers {@code vae/} folder ({@code config.json} + weights): its config is used as
 *       diffusers uses it, scaling factor and {@code force_upcast} included;</li>
 *   <li>a {@code .safetensors} file in single-file (LDM) naming ({@code encoder.down.N.block.M.*},
 *       {@code decoder.up.*}, {@code quant_conv}, optionally under {@code first_stage_model.}), as
 *       Automatic1111 and ComfyUI users download them: the architecture is read from the shapes
 *       ({@link CheckpointArchitecture}), the scaling factor and {@code force_upcast} are the model's
 *       (the file cannot say; an SD 1.x VAE and an SDXL VAE have the same layout);</li>
 *   <li>a {@code .safetensors} file in diffusers naming ({@code encoder.down_blocks.*}): with the
 *       {@code config.json} next to it when there is one, else the model's VAE config.</li>
 * </ul>
 */
public final class VaeFile {
    private VaeFile() {}

    /**
     * Refuses what cannot be a VAE file without reading its weights.
     *
     * @param path the separate VAE
     * @throws ModelFormatException for a missing path, a pickle, or a file in neither naming
     */
    public static void check(Path path) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": VAE: no such file or folder");
        }
        if (Files.isDirectory(path)) {
            DiffusersLoader.config(path);
            DiffusersLoader.weightsFile(path);
            return;
        }
        if (!path.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) {
            throw new ModelFormatException(path + ": VAE: only .safetensors files (or a diffusers vae/ folder) are "
                    + "read; pickled files (.ckpt, .pt, .bin) are refused because loading them can run arbitrary code");
        }
        try (Weights w = Weights.open(path)) {
            naming(w);
        }
    }

    /**
     * The pipeline's VAE: the separate one when given, else the model's own.
     *
     * @param file the separate VAE, or null
     * @param own the model's VAE config (scaling factor, {@code force_upcast} for files that cannot say)
     * @param sdxl whether the model is SDXL (its VAE runs in float32 when the config says {@code force_upcast})
     * @param manager the models' manager; the VAE's parameters go into a child of it
     * @param dtype the models' parameter type
     * @param device the models' device
     * @param options the VAE's layout ({@link PipelineOptions#channelsLastFor} of the type it is built in)
     * @param builtIn builds the model's own VAE with its parameters in the given manager
     * @return the VAE
     * @throws ModelFormatException for a VAE file that cannot be read or does not fit its config
     */
    public static AutoencoderKL loadOr(Path file, VaeConfig own, boolean sdxl, NDManager manager, DataType dtype,
            Device device, PipelineOptions options, Function<NDManager, AutoencoderKL> builtIn) {
        NDManager owner = manager.newSubManager();
        try {
            if (file == null) {
                return builtIn.apply(owner);
            }
            AutoencoderKL vae = load(file, own, sdxl, owner, dtype, device, options);
            if (vae.config().latentChannels() != own.latentChannels()) {
                throw new ModelFormatException(file + ": this VAE has " + vae.config().latentChannels() + " latent "
                        + "channels and the model's UNet works on " + own.latentChannels() + ": not a VAE for this model");
            }
            return vae;
        } catch (RuntimeException e) {
            owner.close();
            throw e;
        }
    }

    private enum Naming {
        LDM_PREFIXED,
        LDM,
        DIFFUSERS
    }

    private static Naming naming(Weights w) {
        String pre = SingleFileCheckpoint.VAE_PREFIX;
        if (w.names().stream().anyMatch(n -> n.startsWith(pre + "decoder."))) {
            return Naming.LDM_PREFIXED;
        }
        if (w.names().stream().anyMatch(n -> n.startsWith("decoder.up."))) {
            return Naming.LDM;
        }
        if (w.names().stream().anyMatch(n -> n.startsWith("decoder.up_blocks."))) {
            return Naming.DIFFUSERS;
        }
        throw new ModelFormatException(w.source() + ": not a VAE: no decoder tensors (decoder.up.* in single-file "
                + "naming, decoder.up_blocks.* in diffusers naming, optionally under " + pre + ")");
    }

    private static AutoencoderKL load(Path path, VaeConfig own, boolean sdxl, NDManager owner, DataType dtype,
            Device device, PipelineOptions options) {
        if (Files.isDirectory(path)) {
            VaeConfig cfg = VaeConfig.load(DiffusersLoader.config(path));
            return DiffusersLoader.loadVae(path, owner, typeFor(cfg, sdxl, dtype), device, options);
        }
        try (Weights file = Weights.open(path)) {
            Naming naming = naming(file);
            if (naming == Naming.DIFFUSERS) {
                Path sibling = path.resolveSibling("config.json");
                VaeConfig cfg = Files.isRegularFile(sibling) ? VaeConfig.load(sibling) : own;
                Weights w = file.renamed(DiffusersLoader::renameLegacyVaeAttention);
                return build(cfg, w, sdxl, owner, dtype, device, options);
            }
            String pre = SingleFileCheckpoint.VAE_PREFIX;
            Weights ldm = naming == Naming.LDM_PREFIXED ? file : file.renamed(n -> isLdmVae(n) ? pre + n : n);
            VaeConfig shape = CheckpointArchitecture.vae(ldm, CheckpointArchitecture.Family.SD1, null);
            VaeConfig cfg = new VaeConfig(shape.inChannels(), shape.outChannels(), shape.blockOutChannels(),
                    shape.layersPerBlock(), shape.latentChannels(), shape.normNumGroups(), own.scalingFactor(),
                    shape.useQuantConv(), shape.usePostQuantConv(), shape.midBlockAddAttention(), own.forceUpcast());
            return build(cfg, SingleFileCheckpoint.vae(ldm, cfg), sdxl, owner, dtype, device, options);
        }
    }

    private static boolean isLdmVae(String name) {
        return name.startsWith("encoder.") || name.startsWith("decoder.") || name.startsWith("quant_conv.")
                || name.startsWith("post_quant_conv.");
    }

    private static AutoencoderKL build(VaeConfig cfg, Weights w, boolean sdxl, NDManager owner, DataType dtype,
            Device device, PipelineOptions options) {
        DataType type = typeFor(cfg, sdxl, dtype);
        AutoencoderKL vae = new AutoencoderKL(cfg, w, owner, type, device, options.channelsLastFor(type, device));
        w.verify();
        return vae;
    }

    private static DataType typeFor(VaeConfig cfg, boolean sdxl, DataType dtype) {
        return sdxl ? AutoencoderKL.sdxlDtype(cfg, dtype) : dtype;
    }
}
