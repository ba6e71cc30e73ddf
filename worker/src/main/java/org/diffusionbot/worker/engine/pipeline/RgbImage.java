package org.diffusionbot.worker.engine.pipeline;

/**
 * An 8-bit RGB image, row-major, interleaved ({@code rgb.length == 3·width·height}).
 *
 * @param width pixels per row
 * @param height rows
 * @param rgb interleaved R, G, B bytes
 */
public record RgbImage(int width, int height, byte[] rgb) {
    /** Checks the buffer size. */
    public RgbImage {
        if (width <= 0 || height <= 0 || rgb.length != 3 * width * height) {
            throw new IllegalArgumentException("bad RGB image " + width + "x" + height + " with " + rgb.length + " bytes");
        }
    }
}
