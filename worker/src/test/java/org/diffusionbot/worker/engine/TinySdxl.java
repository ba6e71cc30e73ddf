package org.diffusionbot.worker.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The tiny SDXL reference model of the test resources. Its two tokenizers use the same CLIP
 * vocabulary and merges as tiny-sd15's (only their {@code tokenizer_config.json} differ: tokenizer_2
 * pads with {@code !}), so the resources keep one copy: {@link #folderPath()} assembles the diffusers
 * folder once per JVM in a temporary directory, linking every component and adding the shared
 * vocabulary to both tokenizer folders.
 */
public final class TinySdxl {
    private static Path folder;

    private TinySdxl() {}

    public static Path root() {
        try {
            return Path.of(TinySdxl.class.getResource("/reference/tiny-sdxl").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The single-file checkpoint (SDXL's original naming). */
    public static Path singleFilePath() {
        return root().resolve("single-file.safetensors");
    }

    /** The diffusers folder, complete with both tokenizers' vocabulary. */
    public static synchronized Path folderPath() {
        if (folder != null) {
            return folder;
        }
        try {
            Path dir = Files.createTempDirectory("tiny-sdxl-");
            Path src = root().resolve("model");
            Path vocab = TinyModels.folderPath().resolve("tokenizer");
            try (Stream<Path> parts = Files.list(src)) {
                for (Path p : parts.toList()) {
                    String name = p.getFileName().toString();
                    if (name.startsWith("tokenizer")) {
                        Path t = Files.createDirectory(dir.resolve(name));
                        Files.copy(p.resolve("tokenizer_config.json"), t.resolve("tokenizer_config.json"));
                        for (String f : List.of("vocab.json", "merges.txt")) {
                            Files.createSymbolicLink(t.resolve(f), vocab.resolve(f));
                        }
                    } else {
                        Files.createSymbolicLink(dir.resolve(name), p);
                    }
                }
            }
            Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(dir)));
            folder = dir;
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void delete(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // a temporary directory: left for the OS to clean
        }
    }
}
