package org.diffusionbot.worker.engine.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Malformed model files: hundreds of mutations of a valid safetensors file (flipped bytes in the
 * header and the data, truncations, lying lengths). Every one either reads back or fails with a
 * {@link ModelFormatException} naming the file — never another exception, never a crash.
 */
class SafetensorsFuzzTest {
    @TempDir
    Path dir;

    static byte[] validFile() {
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                + "\"__metadata__\":{\"format\":\"pt\"}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + h.length + 32).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        for (int i = 0; i < 6; i++) {
            buf.putFloat(i);
        }
        for (int i = 0; i < 4; i++) {
            buf.putShort((short) 0x3C00);
        }
        return buf.array();
    }

    @Test
    void mutatedFilesFailCleanly() throws Exception {
        byte[] valid = validFile();
        Random rnd = new Random(20261122);
        int ok = 0;
        int refused = 0;
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            for (int round = 0; round < 600; round++) {
                byte[] b = mutate(valid, rnd);
                Path f = dir.resolve("fuzz-" + round + ".safetensors");
                Files.write(f, b);
                try {
                    SafetensorsFile sf = SafetensorsFile.open(f);
                    for (TensorView t : sf.tensors().values()) {
                        t.toNDArray(m, DataType.FLOAT32, Device.cpu()).close();
                    }
                    ok++;
                } catch (ModelFormatException e) {
                    assertTrue(e.getMessage().contains(f.getFileName().toString()), e.getMessage());
                    refused++;
                }
                Files.delete(f);
            }
        }
        assertEquals(600, ok + refused);
        assertTrue(refused > 300, "most mutations must be refused, got " + refused);
        System.out.printf("RELIABILITY model-file fuzz: 600 mutated files, %d read, %d refused with a clear error,"
                + " 0 crashes%n", ok, refused);
    }

    private static byte[] mutate(byte[] valid, Random rnd) {
        byte[] b = Arrays.copyOf(valid, valid.length);
        switch (rnd.nextInt(5)) {
            case 0 -> { // flip random bytes anywhere
                for (int i = 0; i < 1 + rnd.nextInt(4); i++) {
                    b[rnd.nextInt(b.length)] ^= (byte) (1 << rnd.nextInt(8));
                }
            }
            case 1 -> b = Arrays.copyOf(b, rnd.nextInt(b.length)); // truncated
            case 2 -> { // a header length that lies
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, rnd.nextLong());
            }
            case 3 -> { // a digit in the header changed (shapes, offsets)
                for (int tries = 0; tries < 50; tries++) {
                    int i = 8 + rnd.nextInt(b.length - 40);
                    if (b[i] >= '0' && b[i] <= '9') {
                        b[i] = (byte) ('0' + rnd.nextInt(10));
                        break;
                    }
                }
            }
            default -> { // random garbage of random length
                b = new byte[rnd.nextInt(200)];
                rnd.nextBytes(b);
            }
        }
        return b;
    }
}
