package org.diffusionbot.bot.web;

import java.awt.Color;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.diffusionbot.bot.jobs.Thumbnails;
import org.diffusionbot.common.image.GenerationParameters;
import org.diffusionbot.db.GallerySeed;

/** Real PNGs (with the parameters chunk) and JPEG thumbnails for gallery tests: colourful, distinct per seed. */
final class GalleryFixtures {
    private GalleryFixtures() {
    }

    /** Pictures of {@code side} x {@code side} pixels (the job says 512x512; a smaller picture is fine for tests). */
    static GallerySeed.Bytes pictures(int side) {
        return (p, index) -> {
            byte[] png = picture(p, side);
            try {
                return new byte[][] {png, Thumbnails.of(png)};
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        };
    }

    static byte[] picture(GenerationParameters p, int side) {
        long h = p.seed() * 0x9E3779B97F4A7C15L ^ p.prompt().hashCode();
        float hue = (h >>> 40 & 0xFFFF) / 65536f;
        BufferedImage img = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setPaint(new GradientPaint(0, 0, Color.getHSBColor(hue, 0.55f, 0.95f), side, side,
                Color.getHSBColor((hue + 0.35f) % 1f, 0.75f, 0.35f)));
        g.fillRect(0, 0, side, side);
        for (int i = 0; i < 6; i++) {
            long r = h * (i + 7) * 0x2545F4914F6CDD1DL;
            int d = (int) (side * (0.12 + ((r >>> 8) & 0xFF) / 255.0 * 0.35));
            int x = (int) (((r >>> 16) & 0xFFFF) / 65535.0 * (side - d));
            int y = (int) (((r >>> 32) & 0xFFFF) / 65535.0 * (side - d));
            g.setColor(Color.getHSBColor((hue + 0.1f * i) % 1f, 0.45f, 1f - 0.08f * i));
            g.fillOval(x, y, d, d);
        }
        g.dispose();
        byte[] rgb = new byte[side * side * 3];
        for (int y = 0, k = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                int c = img.getRGB(x, y);
                rgb[k++] = (byte) (c >> 16);
                rgb[k++] = (byte) (c >> 8);
                rgb[k++] = (byte) c;
            }
        }
        return p.toPng(side, side, rgb);
    }
}
