package org.diffusionbot.worker.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.diffusionbot.worker.engine.models.Conditioning;
import org.diffusionbot.worker.engine.models.UNet2DConditionModel;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.models.UNetConfig;

/**
 * Random float16 inputs of one UNet call, shaped as the pipeline makes them (what the benches time and
 * profile; the speed does not depend on the values).
 *
 * @param sample (B, in_channels, latent, latent) noisy latents
 * @param timestep one timestep (500) for the whole batch
 * @param cond the context (B, 77, cross_attention_dim); for an SDXL UNet also the pooled text embedding
 *     (B, pooled dim) and the time ids (B, 6) of a 1024x1024 image; and the prompt K|V where {@link #of}
 *     made it
 */
record UNetInputs(NDArray sample, NDArray timestep, Conditioning cond) {
    static UNetInputs random(NDManager m, UNetConfig c, int batch, int latent) {
        NDArray x = m.randomNormal(new Shape(batch, c.inChannels(), latent, latent)).toType(DataType.FLOAT16, false);
        NDArray ctx = m.randomNormal(new Shape(batch, 77, c.crossAttentionDim())).toType(DataType.FLOAT16, false);
        NDArray t = m.create(new float[] {500f});
        if (!c.hasTextTime()) {
            return new UNetInputs(x, t, Conditioning.of(ctx));
        }
        NDArray pooled = m.randomNormal(new Shape(batch, c.pooledDim())).toType(DataType.FLOAT16, false);
        float[] ids = new float[batch * 6];
        for (int i = 0; i < ids.length; i += 6) {
            ids[i] = ids[i + 1] = ids[i + 4] = ids[i + 5] = 1024;
        }
        NDArray timeIds = m.create(ids, new Shape(batch, 6)).toType(DataType.FLOAT16, false);
        return new UNetInputs(x, t, new Conditioning(ctx, pooled, timeIds));
    }

    /**
     * Random inputs for the pipeline's UNet ({@link #random}) with the conditioning's prompt K|V where the pipeline's
     * options say ({@code SD_PROMPT_KV}, {@code options().promptKv()}), as the step loop passes them, so that a timed
     * call is the loop's call.
     */
    static UNetInputs of(NDManager m, StableDiffusionPipeline p, int batch, int latent) {
        UNet2DConditionModel unet = p.models().unet();
        UNetInputs in = random(m, unet.config(), batch, latent);
        return p.options().promptKv() ? new UNetInputs(in.sample, in.timestep, unet.withPromptKv(m, in.cond)) : in;
    }
}
