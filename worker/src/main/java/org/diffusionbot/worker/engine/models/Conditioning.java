package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;

/**
 * What the UNet is conditioned on besides the noisy latents and the timestep, one row per UNet batch
 * row, as diffusers passes it to {@code UNet2DConditionModel.forward}: the cross-attention context
 * ({@code encoder_hidden_states}) and, for SDXL ({@code addition_embed_type: "text_time"}), the
 * {@code added_cond_kwargs}: the pooled text embedding and the added time ids. SD 1.x/2.x fill only
 * the context. Made by the pipeline's text conditioner of the model family.
 *
 * <p>The step loop adds the prompt K|V ({@link UNet2DConditionModel#withPromptKv}): every cross-attention's k|v
 * projection of the context, made once per denoising loop instead of in every UNet call. A conditioning's arrays are
 * never modified in place (a CUDA graph skips copying one that is the same array as at its last replay: {@code
 * CudaGraphRunner}); another conditioning is another record of other arrays.
 *
 * @param context (B, 77·k, cross_attention_dim) in the model's dtype
 * @param textEmbeds SDXL's pooled text embedding (B, {@link UNetConfig#pooledDim()}), else null
 * @param timeIds SDXL's added time ids (B, 6) in pixels (original h, w, crop top, left, target h, w), else null
 * @param promptKv the prompt K|V of this context for one UNet ({@link UNet2DConditionModel#withPromptKv}): a 1-d
 *     array in the model's dtype holding each cross-attention's (B, M, 2C) k|v, or null: each cross-attention projects
 *     the context itself
 */
public record Conditioning(NDArray context, NDArray textEmbeds, NDArray timeIds, NDArray promptKv) {
    /** @throws IllegalArgumentException without a context, or with one of text embeds and time ids only */
    public Conditioning {
        if (context == null) {
            throw new IllegalArgumentException("a conditioning needs the context");
        }
        if ((textEmbeds == null) != (timeIds == null)) {
            throw new IllegalArgumentException("SDXL's added conditioning needs both text_embeds and time_ids");
        }
    }

    /** A conditioning without a prompt K|V (each cross-attention projects the context). */
    public Conditioning(NDArray context, NDArray textEmbeds, NDArray timeIds) {
        this(context, textEmbeds, timeIds, null);
    }

    /** @return this conditioning with the given prompt K|V (null: none) */
    public Conditioning withPromptKv(NDArray kv) {
        return new Conditioning(context, textEmbeds, timeIds, kv);
    }

    /** SD 1.x/2.x: the context alone. */
    public static Conditioning of(NDArray context) {
        return new Conditioning(context, null, null);
    }

    /** @return whether SDXL's added conditioning (pooled embedding and time ids) is there */
    public boolean hasAdded() {
        return textEmbeds != null;
    }
}
