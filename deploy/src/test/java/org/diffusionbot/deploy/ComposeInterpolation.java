package org.diffusionbot.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Variable interpolation of a Compose file, as the Compose Specification's "Interpolation" section defines it
 * (what {@code docker compose} does with {@code .env} before validating): {@code $VAR}, {@code ${VAR}},
 * {@code ${VAR:-default}} / {@code ${VAR-default}}, {@code ${VAR:?error}} / {@code ${VAR?error}},
 * {@code ${VAR:+replacement}} / {@code ${VAR+replacement}}, nested in defaults, and {@code $$} for a literal
 * {@code $}. Applied to values, not keys.
 */
final class ComposeInterpolation {
    private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private final Map<String, String> env;

    ComposeInterpolation(Map<String, String> env) {
        this.env = env;
    }

    /** A {@code .env}-style file: {@code KEY=value} lines; blank lines and {@code #} comments skipped. */
    static Map<String, String> readEnvFile(Path file) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : Files.readAllLines(file)) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            int eq = l.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException(file + ": not KEY=value: " + line);
            }
            out.put(l.substring(0, eq).strip(), l.substring(eq + 1).strip());
        }
        return out;
    }

    /** Interpolates every text value of a parsed Compose file in place. */
    JsonNode apply(JsonNode node) {
        if (node instanceof ObjectNode o) {
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext();) {
                Map.Entry<String, JsonNode> e = it.next();
                e.setValue(apply(e.getValue()));
            }
        } else if (node instanceof ArrayNode a) {
            for (int i = 0; i < a.size(); i++) {
                a.set(i, apply(a.get(i)));
            }
        } else if (node.isTextual()) {
            return TextNode.valueOf(interpolate(node.asText()));
        }
        return node;
    }

    /**
     * One string.
     *
     * @throws IllegalArgumentException for a {@code :?}/{@code ?} variable that is missing (with its message),
     *                                  or malformed syntax
     */
    String interpolate(String s) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c != '$') {
                out.append(c);
                i++;
            } else if (i + 1 < s.length() && s.charAt(i + 1) == '$') {
                out.append('$');
                i += 2;
            } else if (i + 1 < s.length() && s.charAt(i + 1) == '{') {
                int end = closingBrace(s, i + 2);
                out.append(expression(s.substring(i + 2, end)));
                i = end + 1;
            } else {
                Matcher m = NAME.matcher(s).region(i + 1, s.length());
                if (!m.lookingAt()) {
                    throw new IllegalArgumentException("invalid interpolation: " + s);
                }
                out.append(env.getOrDefault(m.group(), ""));
                i = m.end();
            }
        }
        return out.toString();
    }

    private static int closingBrace(String s, int from) {
        int depth = 1;
        for (int i = from; i < s.length(); i++) {
            if (s.charAt(i) == '{') {
                depth++;
            } else if (s.charAt(i) == '}' && --depth == 0) {
                return i;
            }
        }
        throw new IllegalArgumentException("unclosed ${ in: " + s);
    }

    private String expression(String expr) {
        Matcher m = NAME.matcher(expr);
        if (!m.lookingAt()) {
            throw new IllegalArgumentException("invalid variable name in ${" + expr + "}");
        }
        String name = m.group();
        String rest = expr.substring(m.end());
        String value = env.get(name);
        boolean set = value != null;
        boolean nonEmpty = set && !value.isEmpty();
        if (rest.isEmpty()) {
            return set ? value : "";
        }
        boolean colon = rest.startsWith(":");
        String op = colon ? rest.substring(1, 2) : rest.substring(0, 1);
        String arg = rest.substring(colon ? 2 : 1);
        boolean present = colon ? nonEmpty : set;
        return switch (op) {
            case "-" -> present ? value : interpolate(arg);
            case "?" -> {
                if (!present) {
                    throw new IllegalArgumentException("required variable " + name + " is missing a value: "
                            + interpolate(arg));
                }
                yield value;
            }
            case "+" -> present ? interpolate(arg) : "";
            default -> throw new IllegalArgumentException("invalid interpolation ${" + expr + "}");
        };
    }
}
