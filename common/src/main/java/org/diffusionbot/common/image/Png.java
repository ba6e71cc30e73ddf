package org.diffusionbot.common.image;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * A small PNG encoder for 8-bit RGB images with tEXt chunks, and a reader for those chunks.
 * Automatic1111 and the tools that read its files keep the generation settings in a tEXt chunk
 * named {@code parameters}; Latin-1 is the chunk's charset, so non-Latin-1 text goes into an iTXt
 * chunk (UTF-8) instead, which those tools read too.
 */
public final class Png {
    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private Png() {
    }

    /**
     * Encodes interleaved RGB bytes ({@code width * height * 3}, row-major) as a PNG.
     *
     * @param text keyword → text chunks, written in order before the image data
     */
    public static byte[] encodeRgb(int width, int height, byte[] rgb, Map<String, String> text) {
        if (width <= 0 || height <= 0 || rgb.length != width * height * 3) {
            throw new IllegalArgumentException("rgb holds " + rgb.length + " bytes, expected " + width + "x" + height + "x3");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(rgb.length / 2 + 1024);
        out.writeBytes(SIGNATURE);
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(width).putInt(height)
                .put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
        chunk(out, "IHDR", ihdr.array());
        for (Map.Entry<String, String> e : text.entrySet()) {
            textChunk(out, e.getKey(), e.getValue());
        }
        int stride = width * 3;
        byte[] raw = new byte[(stride + 1) * height];
        for (int y = 0; y < height; y++) {
            // filter type 0 ("None") per row; Deflate does well enough on diffusion output
            System.arraycopy(rgb, y * stride, raw, y * (stride + 1) + 1, stride);
        }
        Deflater deflater = new Deflater(6);
        deflater.setInput(raw);
        deflater.finish();
        ByteArrayOutputStream idat = new ByteArrayOutputStream(raw.length / 2 + 64);
        byte[] buf = new byte[64 << 10];
        while (!deflater.finished()) {
            idat.write(buf, 0, deflater.deflate(buf));
        }
        deflater.end();
        chunk(out, "IDAT", idat.toByteArray());
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    /** The tEXt and (uncompressed) iTXt chunks of a PNG, keyword → text. */
    public static Map<String, String> readText(byte[] png) throws IOException {
        if (png.length < SIGNATURE.length || !Arrays.equals(Arrays.copyOf(png, SIGNATURE.length), SIGNATURE)) {
            throw new IOException("not a PNG file");
        }
        Map<String, String> text = new LinkedHashMap<>();
        DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(png, 8, png.length - 8));
        try {
            while (true) {
                int len = in.readInt();
                byte[] type = in.readNBytes(4);
                if (len < 0 || len > in.available()) {
                    throw new IOException("PNG chunk length " + len + " runs past the end of the file");
                }
                byte[] data = in.readNBytes(len);
                in.readInt(); // CRC
                String t = new String(type, StandardCharsets.US_ASCII);
                if (t.equals("tEXt")) {
                    int z = indexOf(data, 0);
                    if (z > 0) {
                        text.put(new String(data, 0, z, StandardCharsets.ISO_8859_1),
                                new String(data, z + 1, data.length - z - 1, StandardCharsets.ISO_8859_1));
                    }
                } else if (t.equals("iTXt")) {
                    readItxt(data, text);
                } else if (t.equals("IEND")) {
                    return text;
                }
            }
        } catch (EOFException e) {
            throw new IOException("PNG file is truncated");
        }
    }

    private static void readItxt(byte[] data, Map<String, String> text) {
        int z = indexOf(data, 0);
        if (z <= 0 || z + 3 > data.length || data[z + 1] != 0) {
            return; // compressed iTXt is not written by this project; skip it
        }
        int lang = indexOf(data, z + 3);
        int translated = lang < 0 ? -1 : indexOf(data, lang + 1);
        if (translated < 0) {
            return;
        }
        text.put(new String(data, 0, z, StandardCharsets.ISO_8859_1),
                new String(data, translated + 1, data.length - translated - 1, StandardCharsets.UTF_8));
    }

    private static int indexOf(byte[] data, int from) {
        for (int i = from; i < data.length; i++) {
            if (data[i] == 0) {
                return i;
            }
        }
        return -1;
    }

    private static void textChunk(ByteArrayOutputStream out, String keyword, String value) {
        byte[] key = keyword.getBytes(StandardCharsets.ISO_8859_1);
        if (key.length == 0 || key.length > 79) {
            throw new IllegalArgumentException("PNG text keyword must be 1-79 characters: " + keyword);
        }
        boolean latin1 = StandardCharsets.ISO_8859_1.newEncoder().canEncode(value);
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        data.writeBytes(key);
        data.write(0);
        if (latin1) {
            data.writeBytes(value.getBytes(StandardCharsets.ISO_8859_1));
            chunk(out, "tEXt", data.toByteArray());
        } else {
            data.write(0); // not compressed
            data.write(0); // compression method
            data.write(0); // empty language tag
            data.write(0); // empty translated keyword
            data.writeBytes(value.getBytes(StandardCharsets.UTF_8));
            chunk(out, "iTXt", data.toByteArray());
        }
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
        out.writeBytes(t);
        out.writeBytes(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

}
