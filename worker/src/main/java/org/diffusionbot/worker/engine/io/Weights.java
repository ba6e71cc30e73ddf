package org.diffusionbot.worker.engine.io;

import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * A named set of tensors (name → {@link TensorView}) that a model loader takes its parameters
 * from. It remembers which names were taken, which were asked for but absent, and which had the
 * wrong shape, so that {@link #verify()} can report "missing: a, b; unexpected: c".
 *
 * <p>Other checkpoint layouts plug in as pure name mappings: {@link #subset} strips a prefix (e.g.
 * {@code first_stage_model.}) and {@link #renamed} maps names to the diffusers names the model
 * classes ask for; views can be reshaped with {@link TensorView#withShape}. Not thread-safe.
 */
public final class Weights implements AutoCloseable {
    private final String source;
    private final Map<String, TensorView> tensors;
    private final List<SafetensorsFile> files;
    private final Set<String> taken = new LinkedHashSet<>();
    private final Set<String> missing = new LinkedHashSet<>();
    private final List<String> mismatched = new ArrayList<>();
    private Predicate<String> ignored = n -> false;

    private Weights(String source, Map<String, TensorView> tensors, List<SafetensorsFile> files) {
        this.source = source;
        this.tensors = tensors;
        this.files = files;
    }

    /**
     * Opens safetensors files (one model's shards) as one set of weights; close it when loaded.
     *
     * @param paths the files
     * @return the weights
     * @throws ModelFormatException if a file is invalid or two files hold the same name
     */
    public static Weights open(Path... paths) {
        Map<String, TensorView> all = new LinkedHashMap<>();
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            for (Path p : paths) {
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                for (TensorView v : f.tensors().values()) {
                    TensorView prev = all.putIfAbsent(v.name(), v);
                    if (prev != null) {
                        throw new ModelFormatException(p + ": tensor " + v.name() + " also appears in "
                                + prev.file().path());
                    }
                }
            }
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        String source = paths.length == 1 ? paths[0].toString() : List.of(paths).toString();
        return new Weights(source, all, files);
    }

    /**
     * Weights over given views (for name-mapping layers); closing it closes nothing.
     *
     * @param source description used in error messages (e.g. the file name)
     * @param views tensors by name
     * @return the weights
     */
    public static Weights of(String source, Map<String, TensorView> views) {
        return new Weights(source, new LinkedHashMap<>(views), List.of());
    }

    /** @return description of where the tensors come from, for messages */
    public String source() {
        return source;
    }

    /**
     * The {@code __metadata__} entries of the files this instance opened (e.g. {@code
     * modelspec.prediction_type}); for weights made by {@link #of}, {@link #subset} or {@link #renamed}: none.
     *
     * @return key → value (unmodifiable, possibly empty); a key in several files: the first file's value
     */
    public Map<String, String> metadata() {
        Map<String, String> out = new LinkedHashMap<>();
        for (SafetensorsFile f : files) {
            f.metadata().forEach(out::putIfAbsent);
        }
        return Collections.unmodifiableMap(out);
    }

    /** @return all tensor names (unmodifiable) */
    public Set<String> names() {
        return Collections.unmodifiableSet(tensors.keySet());
    }

    /**
     * @param name a tensor name
     * @return the tensor, or null; does not count as taken
     */
    public TensorView get(String name) {
        return tensors.get(name);
    }

    /**
     * Takes a tensor a model needs, checking its shape. An absent name or a wrong shape is recorded
     * for {@link #verify()} and null is returned, so that one load reports every problem at once.
     *
     * @param name the tensor's name
     * @param expected the shape the model needs
     * @return the tensor, or null when missing or mismatched
     */
    public TensorView take(String name, Shape expected) {
        TensorView v = tensors.get(name);
        if (v == null) {
            missing.add(name);
            return null;
        }
        taken.add(name);
        if (!v.shape().equals(expected)) {
            mismatched.add(name + " (expected " + expected + ", found " + v.shape() + ")");
            return null;
        }
        return v;
    }

    /**
     * Tensors matching the predicate are never reported as unexpected (e.g. {@code position_ids}).
     *
     * @param names predicate on tensor names
     * @return this
     */
    public Weights ignoreUnused(Predicate<String> names) {
        ignored = ignored.or(names);
        return this;
    }

    /** @return names asked for by {@link #take} but absent */
    public List<String> missing() {
        return List.copyOf(missing);
    }

    /** @return names present but never taken (nor ignored) */
    public List<String> unexpected() {
        List<String> out = new ArrayList<>();
        for (String n : tensors.keySet()) {
            if (!taken.contains(n) && !ignored.test(n)) {
                out.add(n);
            }
        }
        return out;
    }

    /** @return "name (expected S, found T)" for every shape mismatch */
    public List<String> shapeMismatches() {
        return List.copyOf(mismatched);
    }

    /**
     * @throws ModelFormatException listing missing, unexpected and mismatched tensors, if any
     */
    public void verify() {
        List<String> parts = new ArrayList<>();
        if (!missing.isEmpty()) {
            parts.add("missing: " + String.join(", ", missing));
        }
        List<String> unexpected = unexpected();
        if (!unexpected.isEmpty()) {
            parts.add("unexpected: " + String.join(", ", unexpected));
        }
        if (!mismatched.isEmpty()) {
            parts.add("shape mismatch: " + String.join(", ", mismatched));
        }
        if (!parts.isEmpty()) {
            throw new ModelFormatException(source + ": tensors do not match the model config; " + String.join("; ", parts));
        }
    }

    /**
     * The tensors whose names start with the prefix, with the prefix removed.
     *
     * @param prefix e.g. {@code "first_stage_model."}
     * @return new weights sharing the views (fresh bookkeeping)
     */
    public Weights subset(String prefix) {
        Map<String, TensorView> out = new LinkedHashMap<>();
        tensors.forEach((n, v) -> {
            if (n.startsWith(prefix)) {
                out.put(n.substring(prefix.length()), v);
            }
        });
        return new Weights(source + " [" + prefix + "*]", out, List.of());
    }

    /**
     * The same tensors under new names.
     *
     * @param rename maps an old name to its new name (return the name itself to keep it)
     * @return new weights sharing the views (fresh bookkeeping)
     * @throws ModelFormatException if two tensors get the same name
     */
    public Weights renamed(Function<String, String> rename) {
        Map<String, TensorView> out = new LinkedHashMap<>();
        tensors.forEach((n, v) -> {
            String nn = rename.apply(n);
            if (out.putIfAbsent(nn, v) != null) {
                throw new ModelFormatException(source + ": two tensors map to the name " + nn);
            }
        });
        return new Weights(source, out, List.of());
    }

    /**
     * The same tensors renamed by a table; names absent from the table are kept.
     *
     * @param table old name → new name
     * @return new weights sharing the views
     */
    public Weights renamed(Map<String, String> table) {
        return renamed(n -> table.getOrDefault(n, n));
    }

    /** Closes the files this instance opened (views of other instances become unreadable too). */
    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
