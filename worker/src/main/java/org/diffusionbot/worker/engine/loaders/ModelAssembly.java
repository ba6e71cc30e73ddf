package org.diffusionbot.worker.engine.loaders;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Path;
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
 * The one assembly path: {@link ModelParts} (from a diffusers folder or a single file) → the model
 * classes → {@link StableDiffusionModels}. Text encoder(s), UNet and VAE (or the separate VAE, {@link
 * VaeFile}) are built in that order, each in a child of the models' manager, and each part's tensors
 * are checked once it is built: missing, unexpected and mis-shaped ones all named ({@link Weights#verify}).
 */
final class ModelAssembly {
    private ModelAssembly() {
    }

    /** How a model class is built from its config and tensors, with its parameters in {@code owner}. */
    @FunctionalInterface
    interface Builder<C, T> {
        T build(C config, Weights weights, NDManager owner);
    }

    /**
     * @param parts the model's parts
     * @param dtype parameter and compute type (SDXL's VAE in float32 when its config says {@code force_upcast},
     *     as diffusers' SDXL pipeline upcasts it)
     * @param device parameter and compute device
     * @param vaeFile a separate VAE ({@link VaeFile}), or null for the parts' own
     * @param options the layout of the UNet and VAE ({@link PipelineOptions#channelsLastFor}, decided per part)
     * @return the models; close them to free their memory
     * @throws ModelFormatException for parts that do not fit together or tensors that do not fit their configs
     */
    static StableDiffusionModels assemble(ModelParts parts, DataType dtype, Device device, Path vaeFile,
            PipelineOptions options) {
        checkSdxl(parts);
        NDManager manager = NDManager.newBaseManager(device);
        try {
            ClipTextEncoder text = build(parts.text(), (c, w, m) -> new ClipTextEncoder(c, w, m, dtype, device), manager);
            ClipTextEncoder text2 = parts.text2() == null ? null
                    : build(parts.text2(), (c, w, m) -> new ClipTextEncoder(c, w, m, dtype, device), manager);
            boolean unetChannelsLast = options.channelsLastFor(dtype, device);
            UNet2DConditionModel unet = build(parts.unet(),
                    (c, w, m) -> new UNet2DConditionModel(c, w, m, dtype, device, unetChannelsLast), manager);
            boolean sdxl = text2 != null;
            ModelParts.Part<VaeConfig> own = parts.vae();
            AutoencoderKL vae = VaeFile.loadOr(vaeFile, own.config(), sdxl, manager, dtype, device, options, owner -> {
                DataType vaeType = sdxl ? AutoencoderKL.sdxlDtype(own.config(), dtype) : dtype;
                AutoencoderKL v = new AutoencoderKL(own.config(), own.weights(), owner, vaeType, device,
                        options.channelsLastFor(vaeType, device));
                own.weights().verify();
                return v;
            });
            return new StableDiffusionModels(manager, text, text2, unet, vae);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * Builds one part with its parameters in a child of {@code manager} (freed with it, or at once on failure)
     * and checks its tensors.
     */
    static <C, T> T build(ModelParts.Part<C> part, Builder<C, T> builder, NDManager manager) {
        NDManager owner = manager.newSubManager();
        try {
            T model = builder.build(part.config(), part.weights(), owner);
            part.weights().verify();
            return model;
        } catch (RuntimeException e) {
            owner.close();
            throw e;
        }
    }

    /** SDXL's parts fit together: a text_time UNet has a second encoder whose projection it takes. */
    private static void checkSdxl(ModelParts parts) {
        UNetConfig u = parts.unet().config();
        ClipTextConfig text = parts.text().config();
        ClipTextConfig text2 = parts.text2() == null ? null : parts.text2().config();
        if (!u.hasTextTime()) {
            if (text2 != null) {
                throw new ModelFormatException(parts.source() + ": a second text encoder (text_encoder_2) is present "
                        + "but the UNet takes no pooled text embedding (addition_embed_type is not text_time)");
            }
            return;
        }
        if (text2 == null || text2.projectionDim() == 0) {
            throw new ModelFormatException(parts.source() + ": the UNet (addition_embed_type text_time) needs a second "
                    + "text encoder with projection (text_encoder_2, CLIPTextModelWithProjection)");
        }
        int ctx = text.hiddenSize() + text2.hiddenSize();
        if (ctx != u.crossAttentionDim() || text2.projectionDim() != u.pooledDim()) {
            throw new ModelFormatException(parts.source() + ": text encoders (hidden " + text.hiddenSize() + " + "
                    + text2.hiddenSize() + ", projection " + text2.projectionDim() + ") do not fit the UNet "
                    + "(cross_attention_dim " + u.crossAttentionDim() + ", pooled width " + u.pooledDim() + ")");
        }
    }
}
