package org.diffusionbot.worker.engine.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Copies of real safetensors files whose 8-byte header length has 0x80 (a pickle's first byte) as
 * its low byte: the JSON header padded with spaces, as the safetensors writers pad it to 8 bytes.
 * About one real file in 32 is framed like this (issue 12).
 */
public final class HeaderPadding {
    private HeaderPadding() {}

    /**
     * @param src a safetensors file
     * @param dst where the copy goes (its folder must exist)
     * @return {@code dst}: the same tensors and metadata, the header padded to the smallest length
     *     {@code n >= } the original's with {@code n % 256 == 0x80}
     */
    public static Path padTo0x80(Path src, Path dst) {
        try {
            byte[] all = Files.readAllBytes(src);
            long len = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            long padded = len + ((0x80 - len % 256) + 256) % 256;
            ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(all.length + padded - len)).order(ByteOrder.LITTLE_ENDIAN);
            out.putLong(padded).put(all, 8, (int) len);
            byte[] spaces = new byte[(int) (padded - len)];
            Arrays.fill(spaces, (byte) ' ');
            out.put(spaces).put(all, 8 + (int) len, all.length - 8 - (int) len);
            Files.write(dst, out.array());
            if ((Files.readAllBytes(dst)[0] & 0xFF) != 0x80) {
                throw new IllegalStateException("padding failed: " + dst);
            }
            return dst;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
