package org.diffusionbot.worker.engine.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes small safetensors files: {@code worker.jar doctor}'s tiny model, and tests (also deliberately broken files). */
public final class SafetensorsWriter {
    /** One tensor to write. */
    public record Entry(String dtype, long[] shape, byte[] data) {}

    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>(Map.of("format", "pt"));

    /** Adds a {@code __metadata__} entry (plain text: no quotes or backslashes). */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Adds a tensor. */
    public SafetensorsWriter add(String name, String dtype, long[] shape, byte[] data) {
        entries.put(name, new Entry(dtype, shape, data));
        return this;
    }

    /** Adds a tensor with the bytes of a view. */
    public SafetensorsWriter add(String name, TensorView v) {
        ByteBuffer b = v.bytes();
        byte[] data = new byte[b.remaining()];
        b.get(data);
        return add(name, v.dtype().name(), v.shape().getShape(), data);
    }

    /** Adds float32 values. */
    public SafetensorsWriter addF32(String name, long[] shape, float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return add(name, "F32", shape, b.array());
    }

    /** @return the JSON header for the entries, offsets packed in order */
    public String header() {
        StringBuilder sb = new StringBuilder("{\"__metadata__\":{");
        metadata.forEach((k, v) -> sb.append(sb.charAt(sb.length() - 1) == '{' ? "" : ",")
                .append('"').append(k).append("\":\"").append(v).append('"'));
        sb.append('}');
        long off = 0;
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            Entry t = e.getValue();
            sb.append(",\"").append(e.getKey()).append("\":{\"dtype\":\"").append(t.dtype()).append("\",\"shape\":[");
            for (int i = 0; i < t.shape().length; i++) {
                sb.append(i > 0 ? "," : "").append(t.shape()[i]);
            }
            sb.append("],\"data_offsets\":[").append(off).append(',').append(off + t.data().length).append("]}");
            off += t.data().length;
        }
        return sb.append('}').toString();
    }

    /** Writes the file. */
    public Path write(Path file) {
        return write(file, header());
    }

    /** Writes the file with a given header text (for broken headers). */
    public Path write(Path file, String header) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int dataLen = entries.values().stream().mapToInt(e -> e.data().length).sum();
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataLen).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        entries.values().forEach(e -> b.put(e.data()));
        try {
            Files.write(file, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}
