package org.diffusionbot.worker.engine.pipeline;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import javax.imageio.ImageIO;

/**
 * Decodes an img2img init image (PNG or JPEG, via ImageIO) to the pipeline's input: (3, H, W)
 * float values in [-1, 1] ({@code 2·v/255 − 1} as diffusers' VaeImageProcessor), resized
 * (bicubic) to the requested size when it differs. Alpha is dropped (PIL's {@code convert("RGB")}).
 *
 * @param chw (3, height, width) row-major values in [-1, 1]
 * @param width pixels
 * @param height pixels
 * @param note a note for the user when the image was resized, else null
 */
public record InitImage(float[] chw, int width, int height, String note) {

    /** The image bytes are not a readable PNG/JPEG. */
    public static final class UnreadableImageException extends Exception {
        private static final long serialVersionUID = 1L;

        UnreadableImageException(String message) {
            super(message);
        }
    }

    /**
     * @param bytes PNG or JPEG bytes
     * @param width requested width (a multiple of 8)
     * @param height requested height (a multiple of 8)
     * @return the pixels at the requested size
     * @throws UnreadableImageException if ImageIO cannot decode the bytes
     */
    public static InitImage decode(byte[] bytes, int width, int height) throws UnreadableImageException {
        BufferedImage img;
        try {
            img = ImageIO.read(new ByteArrayInputStream(bytes));
        } catch (IOException | RuntimeException e) {
            throw new UnreadableImageException("the init image could not be decoded (" + e.getMessage() + "); send a PNG or JPEG");
        }
        if (img == null) {
            throw new UnreadableImageException("the init image is not a PNG or JPEG image");
        }
        String note = null;
        if (img.getWidth() != width || img.getHeight() != height) {
            note = "init image resized from " + img.getWidth() + "x" + img.getHeight() + " to " + width + "x" + height;
            BufferedImage r = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = r.createGraphics();
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            g.drawImage(img, 0, 0, width, height, null);
            g.dispose();
            img = r;
        }
        int plane = width * height;
        float[] chw = new float[3 * plane];
        int[] row = new int[width];
        for (int y = 0; y < height; y++) {
            img.getRGB(0, y, width, 1, row, 0, width);
            for (int x = 0; x < width; x++) {
                int p = row[x];
                int i = y * width + x;
                chw[i] = ((p >> 16) & 0xFF) / 255f * 2f - 1f;
                chw[plane + i] = ((p >> 8) & 0xFF) / 255f * 2f - 1f;
                chw[2 * plane + i] = (p & 0xFF) / 255f * 2f - 1f;
            }
        }
        return new InitImage(chw, width, height, note);
    }
}
