package org.diffusionbot.worker.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safetensors reader decodes every supported dtype and refuses every kind of bad file. */
class SafetensorsFileTest {
    @TempDir
    Path dir;

    private static byte[] shorts(int... bits) {
        ByteBuffer b = ByteBuffer.allocate(bits.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : bits) {
            b.putShort((short) v);
        }
        return b.array();
    }

    private static byte[] longs(long... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) {
            b.putLong(x);
        }
        return b.array();
    }

    private static byte[] doubles(double... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (double x : v) {
            b.putDouble(x);
        }
        return b.array();
    }

    private ModelFormatException refused(Path file) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsFile.open(file).close());
        assertTrue(e.getMessage().contains(file.getFileName().toString()), "message names the file: " + e.getMessage());
        return e;
    }

    private static void assertMessage(ModelFormatException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "'" + e.getMessage() + "' should contain '" + p + "'");
        }
    }

    @Test
    void decodesF16Bf16F32F64I64() {
        Path f = new SafetensorsWriter()
                // fp16: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal)
                .add("h", "F16", new long[] {5}, shorts(0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001))
                // bf16: 1, -2, 3.140625, 2^-126
                .add("b", "BF16", new long[] {2, 2}, shorts(0x3F80, 0xC000, 0x4049, 0x0080))
                .addF32("f", new long[] {3}, 1.5f, -0f, Float.MAX_VALUE)
                .add("d", "F64", new long[] {2}, doubles(0.25, -8))
                .add("position_ids", "I64", new long[] {1, 3}, longs(0, 1, 76))
                .write(dir.resolve("ok.safetensors"));
        try (SafetensorsFile st = SafetensorsFile.open(f); NDManager m = NDManager.newBaseManager(Device.cpu())) {
            assertEquals("pt", st.metadata().get("format"));
            assertEquals(new Shape(2, 2), st.tensor("b").shape());
            assertArrayEquals(new float[] {1f, -2f, 0.5f, 65504f, (float) Math.pow(2, -24)},
                    st.tensor("h").toNDArray(m, DataType.FLOAT32, Device.cpu()).toFloatArray());
            NDArray b = st.tensor("b").toNDArray(m, DataType.FLOAT32, Device.cpu());
            assertEquals(new Shape(2, 2), b.getShape());
            assertArrayEquals(new float[] {1f, -2f, 3.140625f, (float) Math.pow(2, -126)}, b.toFloatArray());
            assertArrayEquals(new float[] {1.5f, -0f, Float.MAX_VALUE},
                    st.tensor("f").toNDArray(m, DataType.FLOAT32, Device.cpu()).toFloatArray());
            assertArrayEquals(new float[] {0.25f, -8f}, st.tensor("d").toNDArray(m, DataType.FLOAT32, Device.cpu()).toFloatArray());
            assertArrayEquals(new long[] {0, 1, 76},
                    st.tensor("position_ids").toNDArray(m, DataType.INT64, Device.cpu()).toLongArray());
            NDArray half = st.tensor("f").toNDArray(m, DataType.FLOAT16, Device.cpu());
            assertEquals(DataType.FLOAT16, half.getDataType());
            assertEquals(m, half.getManager());
        }
    }

    @Test
    void arraysOutliveTheFileMapping() {
        Path f = new SafetensorsWriter().addF32("x", new long[] {2}, 3f, 4f).write(dir.resolve("x.safetensors"));
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x;
            try (SafetensorsFile st = SafetensorsFile.open(f)) {
                x = st.tensor("x").toNDArray(m, DataType.FLOAT32, Device.cpu());
            }
            Files.write(f, new byte[0]); // the file changes: the array must hold its own copy
            System.gc();
            assertArrayEquals(new float[] {3f, 4f}, x.toFloatArray());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void refusesZipCheckpoint() throws IOException {
        Path f = dir.resolve("model.ckpt");
        Files.write(f, new byte[] {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0});
        assertMessage(refused(f), "not safetensors", "convert", ".safetensors");
    }

    @Test
    void refusesPickleCheckpoint() throws IOException {
        Path f = dir.resolve("model.pt");
        // protocol 2 pickle of a global: \x80\x02 c os system ... : must never be unpickled
        Files.write(f, new byte[] {(byte) 0x80, 0x02, 'c', 'o', 's', '\n', 's', 'y', 's', 't', 'e', 'm', '\n', '.'});
        assertMessage(refused(f), "pickle", "convert", ".safetensors");
    }

    @Test
    void aHeaderLengthWhoseLowByteIsAPickleMarkerLoads() throws IOException {
        SafetensorsWriter w = new SafetensorsWriter().addF32("x", new long[] {1}, 2f);
        String header = w.header();
        header = header + " ".repeat(0x180 - header.length()); // 384 = 0x0180: first byte 0x80
        Path f = w.write(dir.resolve("padded.safetensors"), header);
        assertEquals((byte) 0x80, Files.readAllBytes(f)[0]);
        try (SafetensorsFile file = SafetensorsFile.open(f)) {
            assertEquals(Set.of("x"), file.tensors().keySet());
        }
    }

    @Test
    void refusesTinyFile() throws IOException {
        Path f = dir.resolve("short.safetensors");
        Files.write(f, new byte[] {1, 2, 3});
        assertMessage(refused(f), "truncated");
    }

    @Test
    void refusesTruncatedData() throws IOException {
        Path f = new SafetensorsWriter().addF32("x", new long[] {4}, 1, 2, 3, 4).write(dir.resolve("cut.safetensors"));
        byte[] all = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(all, all.length - 5));
        assertMessage(refused(f), "truncated", "x");
    }

    @Test
    void refusesHeaderLongerThanFile() throws IOException {
        Path f = dir.resolve("len.safetensors");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1_000_000L).put("{}      ".getBytes());
        Files.write(f, b.array());
        assertMessage(refused(f), "header length 1000000", "larger than the file");
    }

    @Test
    void refusesInvalidJson() {
        Path f = new SafetensorsWriter().write(dir.resolve("json.safetensors"), "{\"x\": {\"dtype\": ");
        assertMessage(refused(f), "invalid JSON header");
        Path g = new SafetensorsWriter().write(dir.resolve("array.safetensors"), "[1, 2]");
        assertMessage(refused(g), "invalid JSON header");
        Path h = new SafetensorsWriter().write(dir.resolve("fields.safetensors"), "{\"x\": {\"dtype\": \"F32\"}}");
        assertMessage(refused(h), "invalid JSON header", "x");
    }

    @Test
    void refusesUnknownDtype() {
        Path f = new SafetensorsWriter().add("x", "Q7", new long[] {2}, new byte[2]).write(dir.resolve("dtype.safetensors"));
        assertMessage(refused(f), "unknown dtype Q7", "x");
    }

    @Test
    void refusesUnreadableDtypeOnRead() {
        Path f = new SafetensorsWriter().add("x", "U16", new long[] {2}, new byte[4]).write(dir.resolve("u16.safetensors"));
        try (SafetensorsFile st = SafetensorsFile.open(f); NDManager m = NDManager.newBaseManager(Device.cpu())) {
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> st.tensor("x").toNDArray(m, DataType.FLOAT32, Device.cpu()));
            assertMessage(e, "u16.safetensors", "x", "U16", "does not support");
        }
    }

    @Test
    void refusesOffsetsOutOfRange() {
        SafetensorsWriter w = new SafetensorsWriter().addF32("x", new long[] {2}, 1, 2);
        Path f = w.write(dir.resolve("range.safetensors"),
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}");
        assertMessage(refused(f), "x", "[8, 16]", "beyond");
        Path g = w.write(dir.resolve("neg.safetensors"),
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}");
        assertMessage(refused(g), "x", "invalid data_offsets");
    }

    @Test
    void refusesOverlappingOffsets() {
        Path f = new SafetensorsWriter().addF32("a", new long[] {2}, 1, 2).addF32("b", new long[] {2}, 3, 4)
                .write(dir.resolve("overlap.safetensors"),
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}");
        assertMessage(refused(f), "overlap", "a", "b");
    }

    @Test
    void refusesOffsetsNotMatchingDtypeAndShape() {
        Path f = new SafetensorsWriter().addF32("x", new long[] {2}, 1, 2)
                .write(dir.resolve("size.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}");
        assertMessage(refused(f), "x", "needs 12");
    }

    @Test
    void weightsReportMissingUnexpectedAndMismatched() {
        Path f = new SafetensorsWriter()
                .addF32("a", new long[] {2}, 1, 2)
                .addF32("b", new long[] {2}, 1, 2)
                .addF32("d", new long[] {1}, 1)
                .addF32("e.position_ids", new long[] {1}, 0)
                .write(dir.resolve("w.safetensors"));
        try (Weights w = Weights.open(f)) {
            w.ignoreUnused(n -> n.endsWith("position_ids"));
            assertNotNull(w.take("a", new Shape(2)));
            assertEquals(null, w.take("b", new Shape(2, 1)));
            assertEquals(null, w.take("c", new Shape(3)));
            assertEquals(java.util.List.of("c"), w.missing());
            assertEquals(java.util.List.of("d"), w.unexpected());
            assertEquals(1, w.shapeMismatches().size());
            ModelFormatException e = assertThrows(ModelFormatException.class, w::verify);
            assertMessage(e, "w.safetensors", "missing: c", "unexpected: d", "b (expected (2, 1), found (2))");
        }
    }

    @Test
    void weightsRenameSubsetAndReshape() {
        Path f = new SafetensorsWriter()
                .addF32("first_stage_model.attn.q.weight", new long[] {2, 2, 1, 1}, 1, 2, 3, 4)
                .addF32("model.other", new long[] {1}, 0)
                .write(dir.resolve("single.safetensors"));
        try (Weights all = Weights.open(f); NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Weights vae = all.subset("first_stage_model.").renamed(java.util.Map.of("attn.q.weight", "attn.to_q.weight"));
            assertEquals(java.util.Set.of("attn.to_q.weight"), vae.names());
            TensorView v = vae.get("attn.to_q.weight").withShape(new Shape(2, 2));
            NDArray a = v.toNDArray(m, DataType.FLOAT32, Device.cpu());
            assertEquals(new Shape(2, 2), a.getShape());
            assertArrayEquals(new float[] {1, 2, 3, 4}, a.toFloatArray());
            Weights reshaped = Weights.of("single", java.util.Map.of("attn.to_q.weight", v));
            assertNotNull(reshaped.take("attn.to_q.weight", new Shape(2, 2)));
            reshaped.verify();
        }
    }

    @Test
    void weightsRefuseDuplicateNamesAcrossShards() {
        Path a = new SafetensorsWriter().addF32("x", new long[] {1}, 1).write(dir.resolve("a.safetensors"));
        Path b = new SafetensorsWriter().addF32("x", new long[] {1}, 2).write(dir.resolve("b.safetensors"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Weights.open(a, b));
        assertMessage(e, "b.safetensors", "x", "a.safetensors");
    }
}
