package org.diffusionbot.bot.jobs;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageInputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * Small JPEG thumbnails of result PNGs for the gallery. Each thread keeps its PNG reader and JPEG writer:
 * {@code ImageIO.read}/{@code write} would look both up among all registered codecs (and probe the
 * input with each) for every image.
 */
public final class Thumbnails {
    public static final int MAX_SIDE = 256;

    private static final ThreadLocal<ImageReader> PNG = ThreadLocal.withInitial(
            () -> ImageIO.getImageReadersByFormatName("png").next());
    private static final ThreadLocal<ImageWriter> JPEG = ThreadLocal.withInitial(
            () -> ImageIO.getImageWritersByFormatName("jpg").next());

    static {
        ImageIO.setUseCache(false); // in memory: ImageIO's default temp-file cache costs a disk round trip per image
    }

    private Thumbnails() {
    }

    public static byte[] of(byte[] png) throws IOException {
        BufferedImage src = read(png);
        double scale = Math.min(1.0, (double) MAX_SIDE / Math.max(src.getWidth(), src.getHeight()));
        int w = Math.max(1, (int) Math.round(src.getWidth() * scale));
        int h = Math.max(1, (int) Math.round(src.getHeight() * scale));
        BufferedImage dst = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = dst.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(src, 0, 0, w, h, null);
        g.dispose();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageWriter writer = JPEG.get();
        try (MemoryCacheImageOutputStream ios = new MemoryCacheImageOutputStream(out)) {
            writer.setOutput(ios);
            writer.write(null, new IIOImage(dst, null, null), writer.getDefaultWriteParam()); // as ImageIO.write
        } finally {
            writer.reset();
        }
        return out.toByteArray();
    }

    private static BufferedImage read(byte[] png) throws IOException {
        ImageReader reader = PNG.get();
        try (MemoryCacheImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(png))) {
            reader.setInput(in, true, true);
            return reader.read(0);
        } catch (IOException | RuntimeException e) {
            throw new IOException("not a readable image: " + e.getMessage(), e);
        } finally {
            reader.reset();
        }
    }
}
