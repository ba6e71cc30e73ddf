package org.diffusionbot.worker.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.messages.WorkerHeartbeat.ModelDefaults;

/**
 * A model's recommended settings, in a small file next to its checkpoint: for {@code
 * models/dreamshaper-lightning.safetensors} (or the diffusers folder {@code models/dreamshaper-lightning/})
 * it is {@code models/dreamshaper-lightning.json}, {@code .yaml} or {@code .yml}, for example
 *
 * <pre>
 * sampler: euler        # a sampler id (worker.jar imagine --help lists them)
 * schedule: trailing    # default | karras | exponential | trailing
 * steps: 4              # 1..150 (lcm: at most 50)
 * cfg: 1.0              # 0..30; 1 or less skips the negative pass
 * </pre>
 *
 * Every key is optional; any other key, a bad value, or two sidecar files for one checkpoint is an
 * error naming the file. The worker announces them per model in its heartbeats ({@code model_defaults})
 * and the bot fills the options a user leaves out of {@code /imagine} with them; {@code worker.jar
 * imagine} uses them for the flags not given.
 */
public final class ModelSidecar {
    /** The extensions looked for, in order. */
    public static final List<String> EXTENSIONS = List.of(".json", ".yaml", ".yml");
    private static final Set<String> KEYS = Set.of("sampler", "schedule", "steps", "cfg");

    private ModelSidecar() {
    }

    /**
     * The sidecar file of a checkpoint, if there is one: the checkpoint's name without {@code
     * .safetensors} (a folder: its name) plus {@code .json}, {@code .yaml} or {@code .yml}, in the same folder.
     *
     * @throws IllegalArgumentException when more than one exists
     */
    public static Optional<Path> find(Path checkpoint) {
        Path abs = checkpoint.toAbsolutePath().normalize();
        if (abs.getFileName() == null || abs.getParent() == null) {
            return Optional.empty();
        }
        String name = abs.getFileName().toString();
        if (name.toLowerCase(java.util.Locale.ROOT).endsWith(".safetensors")) {
            name = name.substring(0, name.length() - ".safetensors".length());
        }
        List<Path> found = new ArrayList<>();
        for (String ext : EXTENSIONS) {
            Path p = abs.resolveSibling(name + ext);
            if (Files.isRegularFile(p)) {
                found.add(p);
            }
        }
        if (found.size() > 1) {
            throw new IllegalArgumentException("model " + checkpoint + " has " + found.size() + " sidecar files "
                    + found + ": keep one");
        }
        return found.stream().findFirst();
    }

    /**
     * The recommended settings of the checkpoint served as {@code model}: empty when it has no sidecar
     * file (or one that recommends nothing).
     *
     * @throws IllegalArgumentException naming the file and what is wrong in it
     */
    public static Optional<ModelDefaults> read(String model, Path checkpoint) {
        Optional<Path> file = find(checkpoint);
        if (file.isEmpty()) {
            return Optional.empty();
        }
        Path f = file.get();
        try {
            ModelDefaults d = parse(model, Files.readString(f), !f.toString().endsWith(".json"));
            return d.isEmpty() ? Optional.empty() : Optional.of(d);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException(f + ": " + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }

    /**
     * Parses a sidecar's text (JSON, or YAML when {@code yaml}).
     *
     * @throws IllegalArgumentException for unknown keys or bad values
     * @throws IOException for text that is not JSON or YAML
     */
    static ModelDefaults parse(String model, String text, boolean yaml) throws IOException {
        ObjectMapper mapper = yaml ? new YAMLMapper() : new ObjectMapper();
        JsonNode root = mapper.readTree(text);
        if (root == null || root.isNull() || root.isMissingNode()) {
            return new ModelDefaults(model, null, null, null, null);
        }
        if (!root.isObject()) {
            throw new IllegalArgumentException("expected keys " + KEYS + ", got " + root.getNodeType());
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!KEYS.contains(k)) {
                throw new IllegalArgumentException("unknown key '" + k + "' (the keys are sampler, schedule, steps, cfg)");
            }
        }
        Sampler sampler = root.hasNonNull("sampler") ? Sampler.fromId(text(root, "sampler")) : null;
        Schedule schedule = root.hasNonNull("schedule") ? Schedule.fromId(text(root, "schedule")) : null;
        Integer steps = null;
        if (root.hasNonNull("steps")) {
            JsonNode s = root.get("steps");
            if (!s.canConvertToExactIntegral() || !s.canConvertToInt()) {
                throw new IllegalArgumentException("steps must be a whole number, got " + s);
            }
            steps = s.intValue();
        }
        Double cfg = null;
        if (root.hasNonNull("cfg")) {
            JsonNode c = root.get("cfg");
            if (!c.isNumber()) {
                throw new IllegalArgumentException("cfg must be a number, got " + c);
            }
            cfg = c.doubleValue();
        }
        return new ModelDefaults(model, sampler, schedule, steps, cfg);
    }

    private static String text(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (!n.isTextual()) {
            throw new IllegalArgumentException(key + " must be a name, got " + n);
        }
        return n.textValue();
    }
}
