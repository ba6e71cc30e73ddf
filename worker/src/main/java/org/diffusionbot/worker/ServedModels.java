package org.diffusionbot.worker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.worker.hub.HubException;
import org.diffusionbot.worker.hub.RepoId;

/**
 * The checkpoints one worker serves, by the name jobs use: {@code MODEL_PATH} as a comma-separated
 * list of {@code path} or {@code name=path} entries (a path: a diffusers folder, a {@code .safetensors}
 * file, or a Hugging Face repository id), or, when {@code MODEL_PATH} is unset, every checkpoint
 * directly in {@code MODELS_DIR} (each {@code *.safetensors} file and each folder with a diffusers
 * {@code model_index.json}). {@code MODEL_NAME} names the model when there is exactly one.
 */
final class ServedModels {
    private ServedModels() {
    }

    /**
     * The setting the served models come from, for errors about one of them or its sidecar file: {@code MODEL_PATH},
     * or {@code MODELS_DIR} when MODEL_PATH is unset (as {@link #fromEnv} reads them).
     */
    static String setting(Env env) {
        String s = env.raw("MODEL_PATH");
        return s == null || s.isBlank() ? "MODELS_DIR" : "MODEL_PATH";
    }

    /** Name → path in the order given (MODELS_DIR: by file name); ConfigException naming the setting at fault. */
    static Map<String, Path> fromEnv(Env env) {
        String setting = env.raw("MODEL_PATH");
        List<String[]> entries = new ArrayList<>(); // {name or null, path}
        if (setting == null || setting.isBlank()) {
            Path dir = WorkerConfig.modelsDir(env);
            for (Path p : checkpointsIn(dir)) {
                entries.add(new String[] {null, p.toString()});
            }
            if (entries.isEmpty()) {
                throw new ConfigException("MODEL_PATH is not set and MODELS_DIR (" + dir + ") holds no "
                        + "checkpoint: point MODEL_PATH at a Stable Diffusion checkpoint (a diffusers folder, a "
                        + ".safetensors file or a Hugging Face repository id owner/name[@revision]; several: "
                        + "comma-separated, each optionally name=path), or put checkpoints in MODELS_DIR");
            }
        } else {
            for (String entry : setting.split(",", -1)) {
                String e = entry.strip();
                if (e.isEmpty()) {
                    throw new ConfigException("MODEL_PATH has an empty entry: '" + setting + "'");
                }
                int eq = e.indexOf('=');
                entries.add(eq > 0 ? new String[] {e.substring(0, eq).strip(), e.substring(eq + 1).strip()}
                        : new String[] {null, e});
            }
        }
        String modelName = env.raw("MODEL_NAME");
        if (modelName != null && entries.size() > 1) {
            throw new ConfigException("MODEL_NAME names one model, and this worker serves " + entries.size()
                    + ": give each its name in MODEL_PATH as name=path, comma-separated");
        }
        Map<String, Path> models = new LinkedHashMap<>();
        for (String[] e : entries) {
            String name = e[0] != null ? e[0] : modelName != null ? modelName : defaultName(e[1]);
            try {
                Topology.checkModelName(name);
            } catch (IllegalArgumentException ex) {
                throw new ConfigException((e[0] == null && modelName != null ? "MODEL_NAME: " : "MODEL_PATH: model name ")
                        + ex.getMessage());
            }
            if (models.put(name, Path.of(e[1])) != null) {
                throw new ConfigException("MODEL_PATH: two models are named '" + name + "': name them apart as name=path");
            }
        }
        return models;
    }

    /** The default name of a checkpoint path or repository id; ConfigException when it is neither. */
    private static String defaultName(String setting) {
        Path model = Path.of(setting);
        if (Files.exists(model)) {
            return WorkerConfig.defaultModelName(model);
        }
        if (RepoId.looksLike(setting)) {
            try {
                return WorkerConfig.defaultModelName(Path.of(RepoId.parse(setting).name()));
            } catch (HubException e) {
                throw new ConfigException("MODEL_PATH: " + e.getMessage());
            }
        }
        throw new ConfigException("MODEL_PATH points at " + WorkerConfig.absolute(model) + ", which does not exist "
                + "(and is not a Hugging Face repository id such as owner/name)");
    }

    /** {@code *.safetensors} files and diffusers folders directly in {@code dir}, by name; none if it is missing. */
    static List<Path> checkpointsIn(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> Files.isRegularFile(p) ? p.getFileName().toString().endsWith(".safetensors")
                    : Files.isRegularFile(p.resolve("model_index.json"))).sorted().toList();
        } catch (IOException e) {
            throw new ConfigException("MODELS_DIR: cannot list " + WorkerConfig.absolute(dir) + ": " + e.getMessage());
        }
    }

    /**
     * Bytes a model is expected to take when loaded: its {@code .safetensors} files (a conservative
     * figure: weights stored in fp32 and loaded in fp16 take half, and a single file's EMA copy is not
     * loaded at all); 0 for a repository not downloaded yet.
     */
    static long estimatedBytes(Path model) {
        if (Files.isRegularFile(model)) {
            return size(model);
        }
        if (!Files.isDirectory(model)) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(model)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".safetensors") && Files.isRegularFile(p))
                    .mapToLong(ServedModels::size).sum();
        } catch (IOException e) {
            return 0;
        }
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }
}
