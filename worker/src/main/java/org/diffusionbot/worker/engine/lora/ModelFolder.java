package org.diffusionbot.worker.engine.lora;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.diffusionbot.common.Suggestions;

/**
 * A folder of add-on files named in prompts (LoRAs in {@code LORA_DIR}, embeddings in {@code
 * EMBEDDINGS_DIR}), AUTOMATIC1111's way: the name is the file name without {@code .safetensors},
 * found case-insensitively, in the folder or its subfolders; the folder is scanned again whenever a
 * name is not found, so files added while the worker runs are picked up. Pickled files ({@code
 * .pt}, {@code .ckpt}, {@code .bin}) are never read: naming one gets a hint to convert it.
 */
public final class ModelFolder {
    private static final Set<String> PICKLES = Set.of(".pt", ".ckpt", ".bin", ".pth");
    private static final int DEPTH = 4;

    private final Path dir;
    private final String kind;
    private final Map<String, String> hashes = new ConcurrentHashMap<>();
    private volatile Map<String, Path> files = Map.of();
    private volatile Map<String, Path> pickles = Map.of();

    /**
     * @param dir the folder (it may be missing: then it holds nothing)
     * @param kind what it holds, for messages ({@code LoRA}, {@code embedding})
     */
    public ModelFolder(Path dir, String kind) {
        this.dir = dir;
        this.kind = kind;
        rescan();
    }

    /** @return the folder */
    public Path dir() {
        return dir;
    }

    /** Reads the folder's file list again. */
    public synchronized void rescan() {
        Map<String, Path> found = new TreeMap<>();
        Map<String, Path> pickled = new TreeMap<>();
        if (dir != null && Files.isDirectory(dir)) {
            try (Stream<Path> s = Files.find(dir, DEPTH, (p, a) -> a.isRegularFile())) {
                s.sorted().forEach(p -> {
                    String file = p.getFileName().toString();
                    int dot = file.lastIndexOf('.');
                    if (dot <= 0) {
                        return;
                    }
                    String ext = file.substring(dot).toLowerCase(Locale.ROOT);
                    String key = file.substring(0, dot).toLowerCase(Locale.ROOT);
                    if (ext.equals(".safetensors")) {
                        found.putIfAbsent(key, p);
                    } else if (PICKLES.contains(ext)) {
                        pickled.putIfAbsent(key, p);
                    }
                });
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
            }
        }
        files = Map.copyOf(found);
        pickles = Map.copyOf(pickled);
    }

    /** @return the names of the {@code .safetensors} files (file names without extension), sorted case-insensitively */
    public List<String> names() {
        List<String> out = new ArrayList<>();
        new TreeMap<>(files).values().forEach(p -> out.add(name(p)));
        return out;
    }

    /** @return every {@code .safetensors} file by name (lower case) */
    public Map<String, Path> files() {
        return files;
    }

    /**
     * @param name a name as written in a prompt
     * @return its file
     * @throws LoraException if no file has that name (with the closest names) or it is a pickle
     */
    public Path resolve(String name) {
        String key = name.toLowerCase(Locale.ROOT);
        Path p = files.get(key);
        if (p == null) {
            rescan();
            p = files.get(key);
        }
        if (p != null) {
            return p;
        }
        Path pickle = pickles.get(key);
        if (pickle != null) {
            throw new LoraException(kind + " " + name + " is a pickled file (" + pickle.getFileName() + "); pickles can run "
                    + "code and are refused: convert it to .safetensors");
        }
        List<String> close = Suggestions.closest(name, names(), 3);
        throw new LoraException("unknown " + kind + " " + name
                + (close.isEmpty() ? "" : "; closest: " + String.join(", ", close)));
    }

    /** @return the name of a file: its file name without extension */
    public static String name(Path file) {
        String f = file.getFileName().toString();
        int dot = f.lastIndexOf('.');
        return dot > 0 ? f.substring(0, dot) : f;
    }

    /**
     * AUTOMATIC1111's short hash of a LoRA file (what its {@code Lora hashes} infotext holds): the
     * {@code sshs_model_hash} metadata when present, else kohya's "addnet" hash, SHA-256 of the bytes
     * after the safetensors header; the first 12 hex digits. Cached per file, size and modification time.
     *
     * @param file a {@code .safetensors} file
     * @param metadataHash the file's {@code sshs_model_hash}, or null
     * @return 12 lower-case hex digits
     */
    public String loraHash(Path file, String metadataHash) {
        if (metadataHash != null && metadataHash.length() >= 12) {
            return metadataHash.substring(0, 12).toLowerCase(Locale.ROOT);
        }
        return hash(file, true);
    }

    /**
     * AUTOMATIC1111's short hash of an embedding ({@code TI hashes}): SHA-256 of the whole file, 12
     * hex digits. Cached per file, size and modification time.
     */
    public String embeddingHash(Path file) {
        return hash(file, false);
    }

    private String hash(Path file, boolean afterHeader) {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            String key = file + "|" + a.size() + "|" + a.lastModifiedTime().toMillis() + "|" + afterHeader;
            return hashes.computeIfAbsent(key, k -> sha256(file, afterHeader).substring(0, 12));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static String sha256(Path file, boolean afterHeader) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            if (afterHeader) {
                byte[] len = in.readNBytes(8);
                long n = len.length == 8 ? ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong() : 0;
                in.skipNBytes(n);
            }
            byte[] buf = new byte[1 << 20];
            for (int r; (r = in.read(buf)) > 0; ) {
                sha.update(buf, 0, r);
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
