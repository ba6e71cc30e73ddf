package org.diffusionbot.worker.engine.pipeline;

/**
 * Cheap previews: a linear map of the 4 latent channels to RGB (the "approx cheap" coefficients of
 * Automatic1111's {@code sd_vae_approx.cheap_approximation}: one set for SD 1.x/2.x, one for SDXL's
 * latent space), one pixel per latent, in [-1, 1] before mapping to 8 bits. Good
 * enough to show composition and colours while a job runs, at no device cost beyond one copy of
 * the x0 estimate.
 */
public final class LatentPreview {
    /** Rows: latent channels 0..3; columns: R, G, B. */
    static final float[][] FACTORS = {
        {0.298f, 0.207f, 0.208f},
        {0.187f, 0.286f, 0.173f},
        {-0.158f, 0.189f, 0.264f},
        {-0.184f, -0.271f, -0.473f},
    };

    /** SDXL's latent space (Automatic1111's coefficients when {@code is_sdxl}). */
    static final float[][] SDXL_FACTORS = {
        {0.3448f, 0.4168f, 0.4395f},
        {-0.1953f, -0.0290f, 0.0250f},
        {0.1074f, 0.0886f, -0.0163f},
        {-0.3730f, -0.2499f, -0.2088f},
    };

    private LatentPreview() {}

    /** {@link #render(boolean, float[], int, int, int)} for SD 1.x/2.x latents. */
    public static RgbImage render(float[] latents, int h, int w, int scale) {
        return render(false, latents, h, w, scale);
    }

    /**
     * @param sdxl whether the latents are SDXL's (its own coefficients)
     * @param latents (4, h, w) row-major, in the scaled latent space (what the UNet sees)
     * @param h latent height
     * @param w latent width
     * @param scale 1 for (h, w) pixels, 2 for a nearest-neighbour ×2 upscale
     * @return the RGB image
     */
    public static RgbImage render(boolean sdxl, float[] latents, int h, int w, int scale) {
        float[][] factors = sdxl ? SDXL_FACTORS : FACTORS;
        if (latents.length != 4 * h * w) {
            throw new IllegalArgumentException("expected 4x" + h + "x" + w + " latents, got " + latents.length + " values");
        }
        int plane = h * w;
        int ow = w * scale;
        byte[] rgb = new byte[3 * plane * scale * scale];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = y * w + x;
                for (int c = 0; c < 3; c++) {
                    float v = 0;
                    for (int l = 0; l < 4; l++) {
                        v += latents[l * plane + p] * factors[l][c];
                    }
                    byte b = toByte((v + 1f) / 2f);
                    for (int dy = 0; dy < scale; dy++) {
                        for (int dx = 0; dx < scale; dx++) {
                            rgb[3 * ((y * scale + dy) * ow + x * scale + dx) + c] = b;
                        }
                    }
                }
            }
        }
        return new RgbImage(ow, h * scale, rgb);
    }

    /** [0, 1] → round(255·v) as diffusers' numpy_to_pil, clamping first (NaN → 0). */
    static byte toByte(float v) {
        float c = v > 1f ? 1f : (v >= 0f ? v : 0f);
        return (byte) (int) Math.rint(c * 255f);
    }
}
