package org.diffusionbot.worker.engine.loaders;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.worker.engine.io.ModelFormatException;

/** Reads {@code config.json} fields with library defaults for absent or null fields. */
public final class ConfigJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;
    private final JsonNode root;

    private ConfigJson(String source, JsonNode root) {
        this.source = source;
        this.root = root;
    }

    public static ConfigJson parse(String source, String json) {
        try {
            JsonNode n = JSON.readTree(json);
            if (n == null || !n.isObject()) {
                throw new ModelFormatException(source + ": config is not a JSON object");
            }
            return new ConfigJson(source, n);
        } catch (IOException e) {
            throw new ModelFormatException(source + ": invalid JSON config: " + e.getMessage(), e);
        }
    }

    public static String text(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read config: " + e.getMessage(), e);
        }
    }

    public String source() {
        return source;
    }

    public boolean isNull(String key) {
        JsonNode n = root.get(key);
        return n == null || n.isNull();
    }

    public JsonNode node(String key) {
        return root.get(key);
    }

    public int integer(String key, int def) {
        if (isNull(key)) {
            return def;
        }
        JsonNode n = root.get(key);
        if (!n.isIntegralNumber()) {
            throw bad(key, "an integer");
        }
        return n.asInt();
    }

    public double number(String key, double def) {
        if (isNull(key)) {
            return def;
        }
        JsonNode n = root.get(key);
        if (!n.isNumber()) {
            throw bad(key, "a number");
        }
        return n.asDouble();
    }

    public boolean bool(String key, boolean def) {
        if (isNull(key)) {
            return def;
        }
        JsonNode n = root.get(key);
        if (!n.isBoolean()) {
            throw bad(key, "true or false");
        }
        return n.asBoolean();
    }

    public String string(String key, String def) {
        if (isNull(key)) {
            return def;
        }
        JsonNode n = root.get(key);
        if (!n.isTextual()) {
            throw bad(key, "a string");
        }
        return n.asText();
    }

    /** An int list, or an int repeated {@code count} times, or the default. */
    public List<Integer> intsOrInt(String key, List<Integer> def, int count) {
        if (isNull(key)) {
            return def;
        }
        JsonNode n = root.get(key);
        List<Integer> out = new ArrayList<>();
        if (n.isIntegralNumber()) {
            for (int i = 0; i < count; i++) {
                out.add(n.asInt());
            }
            return out;
        }
        if (!n.isArray()) {
            throw bad(key, "an integer or a list of integers");
        }
        for (JsonNode e : n) {
            if (!e.isIntegralNumber()) {
                throw bad(key, "an integer or a list of integers");
            }
            out.add(e.asInt());
        }
        if (count >= 0 && out.size() != count) {
            throw new ModelFormatException(source + ": " + key + " has " + out.size() + " entries, expected " + count);
        }
        return out;
    }

    public List<String> strings(String key, List<String> def) {
        if (isNull(key)) {
            return def;
        }
        JsonNode n = root.get(key);
        if (!n.isArray()) {
            throw bad(key, "a list of strings");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : n) {
            out.add(e.asText());
        }
        return out;
    }

    public ModelFormatException unsupported(String what) {
        return new ModelFormatException(source + ": unsupported model config: " + what);
    }

    private ModelFormatException bad(String key, String expected) {
        return new ModelFormatException(source + ": config field " + key + " must be " + expected + ", found " + root.get(key));
    }
}
