package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDManager;

/**
 * The networks of a Stable Diffusion pipeline (text encoder, UNet, VAE; SDXL: a second text encoder
 * with projection) with the manager that owns their parameters.
 * The models are stateless apart from their parameters and may be called repeatedly; close this to
 * free the parameters.
 */
public final class StableDiffusionModels implements AutoCloseable {
    private final NDManager manager;
    private final ClipTextEncoder textEncoder;
    private final ClipTextEncoder textEncoder2;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;

    /**
     * @param manager owner of all parameters (closed by {@link #close()})
     * @param textEncoder the text encoder
     * @param unet the UNet
     * @param vae the VAE
     */
    public StableDiffusionModels(NDManager manager, ClipTextEncoder textEncoder, UNet2DConditionModel unet, AutoencoderKL vae) {
        this(manager, textEncoder, null, unet, vae);
    }

    /**
     * @param manager owner of all parameters (closed by {@link #close()})
     * @param textEncoder the (first) text encoder
     * @param textEncoder2 SDXL's second text encoder (with projection), or null
     * @param unet the UNet
     * @param vae the VAE
     */
    public StableDiffusionModels(NDManager manager, ClipTextEncoder textEncoder, ClipTextEncoder textEncoder2,
            UNet2DConditionModel unet, AutoencoderKL vae) {
        this.manager = manager;
        this.textEncoder = textEncoder;
        this.textEncoder2 = textEncoder2;
        this.unet = unet;
        this.vae = vae;
    }

    /**
     * The weights of the UNet and the text encoder(s) as a LoRA patch addresses them, or null while
     * the layers cannot be patched in place by name (the engine's named parameters, issue 12).
     */
    public org.diffusionbot.worker.engine.lora.PatchableModel patchable() {
        return null;
    }

    /** @return the CLIP text encoder */
    public ClipTextEncoder textEncoder() {
        return textEncoder;
    }

    /** @return SDXL's second text encoder (OpenCLIP ViT-bigG with projection), or null */
    public ClipTextEncoder textEncoder2() {
        return textEncoder2;
    }

    /** @return the noise-prediction UNet */
    public UNet2DConditionModel unet() {
        return unet;
    }

    /** @return the VAE */
    public AutoencoderKL vae() {
        return vae;
    }

    /** @return the manager owning the parameters */
    public NDManager manager() {
        return manager;
    }

    @Override
    public void close() {
        manager.close();
    }
}
