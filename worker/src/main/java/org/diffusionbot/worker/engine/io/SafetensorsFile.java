package org.diffusionbot.worker.engine.io;

import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reader for the safetensors format: an 8-byte little-endian header length N, N bytes of JSON
 * header, then the raw little-endian tensor bytes. The header is parsed and validated on {@link
 * #open}; tensor bytes are memory-mapped one tensor at a time when read, so files larger than 2 GiB
 * and larger than the heap load fine.
 *
 * <p>Pickled PyTorch checkpoints ({@code .ckpt}, {@code .pt}, {@code .bin}) are detected and
 * refused; they are never unpickled.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The safetensors specification's upper bound for the header. */
    private static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final ObjectMapper JSON =
            new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorView> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = new LinkedHashMap<>();
        this.metadata = new LinkedHashMap<>();
    }

    /**
     * Opens and validates a safetensors file.
     *
     * @param path the file
     * @return the opened file; close it when no more tensors will be read
     * @throws ModelFormatException if the file is not a valid safetensors file
     * @throws UncheckedIOException if the file cannot be read
     */
    public static SafetensorsFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + path + ": " + e.getMessage(), e);
        }
        try {
            SafetensorsFile file = parse(path, channel);
            return file;
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        } catch (IOException e) {
            closeQuietly(channel);
            throw new UncheckedIOException("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    private static SafetensorsFile parse(Path path, FileChannel channel) throws IOException {
        long size = channel.size();
        ByteBuffer head = ByteBuffer.allocate((int) Math.min(8, size)).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, head, 0);
        head.flip();
        // the framing decides: a length that fits the file and a JSON header is safetensors (a header
        // length such as 128,640 has 0x80, a pickle's first byte, as its low byte); only then look for magic
        if (size < 8) {
            refusePickle(path, head);
            throw fail(path, "file is truncated: " + size + " bytes, too short for the 8-byte safetensors header length");
        }
        long headerLen = head.getLong(0);
        if (headerLen < 0 || headerLen > size - 8) {
            refusePickle(path, head);
            throw fail(path, "header length " + Long.toUnsignedString(headerLen) + " is larger than the file ("
                    + size + " bytes): not a safetensors file, or truncated");
        }
        if (headerLen > MAX_HEADER_BYTES) {
            throw fail(path, "header length " + headerLen + " exceeds the 100 MB safetensors limit");
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLen);
        readFully(channel, headerBytes, 8);
        String headerText = new String(headerBytes.array(), StandardCharsets.UTF_8);
        JsonNode header;
        try {
            header = JSON.readTree(headerText);
        } catch (JsonProcessingException e) {
            refusePickle(path, head);
            throw fail(path, "invalid JSON header: " + e.getOriginalMessage());
        }
        if (header == null || !header.isObject()) {
            throw fail(path, "invalid JSON header: not a JSON object");
        }
        SafetensorsFile file = new SafetensorsFile(path, channel, 8 + headerLen);
        file.readHeader(header, size - 8 - headerLen);
        return file;
    }

    private void readHeader(JsonNode header, long dataLen) {
        List<long[]> ranges = new ArrayList<>();
        List<String> rangeNames = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode node = e.getValue();
            if (name.equals("__metadata__")) {
                if (!node.isObject()) {
                    throw fail(path, "invalid JSON header: __metadata__ is not an object");
                }
                node.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            if (!node.isObject() || !node.path("dtype").isTextual() || !node.path("shape").isArray()
                    || !node.path("data_offsets").isArray() || node.path("data_offsets").size() != 2) {
                throw fail(path, "invalid JSON header: tensor " + name + " lacks dtype, shape or data_offsets");
            }
            String dtypeName = node.get("dtype").asText();
            SafeDType dtype = SafeDType.parse(dtypeName);
            if (dtype == null) {
                throw fail(path, "tensor " + name + " has unknown dtype " + dtypeName);
            }
            long[] dims = new long[node.get("shape").size()];
            long count = 1;
            for (int i = 0; i < dims.length; i++) {
                JsonNode d = node.get("shape").get(i);
                if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                    throw fail(path, "invalid JSON header: tensor " + name + " has a bad shape " + node.get("shape"));
                }
                dims[i] = d.asLong();
                count = Math.multiplyExact(count, dims[i]);
            }
            JsonNode offs = node.get("data_offsets");
            if (!offs.get(0).isIntegralNumber() || !offs.get(1).isIntegralNumber()) {
                throw fail(path, "invalid JSON header: tensor " + name + " has non-integer data_offsets");
            }
            long begin = offs.get(0).asLong();
            long end = offs.get(1).asLong();
            if (begin < 0 || end < begin) {
                throw fail(path, "tensor " + name + " has invalid data_offsets [" + begin + ", " + end + "]");
            }
            if (end > dataLen) {
                throw fail(path, "tensor " + name + " data_offsets [" + begin + ", " + end + "] lie beyond the "
                        + dataLen + " data bytes: file truncated or corrupt");
            }
            long expected = Math.multiplyExact(count, (long) dtype.bytes());
            if (end - begin != expected) {
                throw fail(path, "tensor " + name + " data_offsets [" + begin + ", " + end + "] span " + (end - begin)
                        + " bytes but dtype " + dtype + " x shape " + new Shape(dims) + " needs " + expected);
            }
            tensors.put(name, new TensorView(this, name, dtype, new Shape(dims), begin, end));
            ranges.add(new long[] {begin, end, rangeNames.size()});
            rangeNames.add(name);
        }
        ranges.sort(Comparator.comparingLong(r -> r[0]));
        for (int i = 1; i < ranges.size(); i++) {
            long[] prev = ranges.get(i - 1);
            long[] cur = ranges.get(i);
            if (cur[0] < prev[1] && cur[1] > cur[0] && prev[1] > prev[0]) {
                throw fail(path, "data_offsets of tensors " + rangeNames.get((int) prev[2]) + " and "
                        + rangeNames.get((int) cur[2]) + " overlap");
            }
        }
    }

    private static void refusePickle(Path path, ByteBuffer head) {
        int n = head.remaining();
        if (n >= 4 && head.get(0) == 'P' && head.get(1) == 'K' && head.get(2) == 3 && head.get(3) == 4) {
            throw fail(path, "is a zip archive (a PyTorch .ckpt/.pt checkpoint), not safetensors. Pickled "
                    + "checkpoints can run arbitrary code and are refused; convert it to .safetensors first");
        }
        if (n >= 1 && (head.get(0) & 0xFF) == 0x80) {
            throw fail(path, "is a Python pickle (a PyTorch .ckpt/.pt checkpoint), not safetensors. Pickled "
                    + "checkpoints can run arbitrary code and are refused; convert it to .safetensors first");
        }
    }

    /** @return the file's path */
    public Path path() {
        return path;
    }

    /** @return the tensors by name, in header order (unmodifiable) */
    public Map<String, TensorView> tensors() {
        return Collections.unmodifiableMap(tensors);
    }

    /**
     * @param name a tensor name
     * @return the tensor, or null if the file has none of that name
     */
    public TensorView tensor(String name) {
        return tensors.get(name);
    }

    /** @return the {@code __metadata__} entries (unmodifiable, possibly empty) */
    public Map<String, String> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    /** Maps a tensor's byte range read-only; the mapping lives as long as the returned buffer. */
    ByteBuffer map(long begin, long length, String tensor) {
        if (length > Integer.MAX_VALUE) {
            throw fail(path, "tensor " + tensor + " is larger than 2 GiB, which is not supported");
        }
        try {
            if (length == 0) {
                return ByteBuffer.allocateDirect(0);
            }
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + begin, length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map tensor " + tensor + " of " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private static ModelFormatException fail(Path path, String problem) {
        return new ModelFormatException(path + ": " + problem);
    }

    private static void readFully(FileChannel ch, ByteBuffer dst, long pos) throws IOException {
        while (dst.hasRemaining()) {
            int n = ch.read(dst, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            pos += n;
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
