package org.diffusionbot.worker.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The comparison table of a bench run (markdown): each figure of ours beside diffusers eager and, when the
 * diffusers output has the torch.compile baseline ({@code COMPILE=1}: {@code compiled_*} figures and a
 * {@code compile_mode MODE} line, see {@code scripts/gpu/diffusers_timing.py}), diffusers + torch.compile,
 * each with the ratio ours / theirs (below 1: ours is smaller, i.e. faster for times, slower for images/s).
 */
final class BaselineTable {
    private static final Pattern JSON_NUMBER = Pattern.compile("\"([a-z0-9_]+)\":\\s*([0-9.eE+-]+)");
    private static final Pattern PEAK_LINE = Pattern.compile("(?m)^([a-z0-9_]*peak_mem_gb)\\s+([0-9.]+)");
    private static final Pattern MODE_LINE = Pattern.compile("(?m)^compile_mode (.+)$");

    private final Map<String, Double> d;
    private final String prefix;
    private final boolean compiled;
    private final StringBuilder sb = new StringBuilder();

    /**
     * @param heading the first column's heading (what was run)
     * @param d the diffusers figures ({@link #figures(Path)})
     * @param compileMode the compiled baseline's mode ({@link #compileMode(Path)}), or null: no compiled column
     * @param prefix the model prefix of the diffusers figures' names ("" for SD 1.5, "sdxl_"); the compiled
     *     figure of {@code prefix + name} is {@code prefix + "compiled_" + name}
     */
    BaselineTable(String heading, Map<String, Double> d, String compileMode, String prefix) {
        this.d = d;
        this.prefix = prefix;
        this.compiled = compileMode != null;
        sb.append("| ").append(heading).append(" | worker (Java, DJL) | diffusers eager | worker / diffusers |");
        if (compiled) {
            sb.append(" diffusers + torch.compile (").append(compileMode).append(") | worker / compiled |");
        }
        sb.append(compiled ? "\n| --- | --- | --- | --- | --- | --- |\n" : "\n| --- | --- | --- | --- |\n");
    }

    /** A row of ours against the diffusers figure {@code prefix + name} (and its compiled one), or none (null). */
    BaselineTable row(String what, String mine, String name) {
        sb.append("| ").append(what).append(" | ").append(mine == null ? "–" : mine).append(" |");
        cell(mine, name == null ? null : d.get(prefix + name));
        if (compiled) {
            cell(mine, name == null ? null : d.get(prefix + "compiled_" + name));
        }
        sb.append('\n');
        return this;
    }

    private void cell(String mine, Double theirs) {
        String ratio = "";
        if (mine != null && theirs != null && theirs > 0) {
            try {
                ratio = String.format(Locale.ROOT, "%.2f", Double.parseDouble(mine) / theirs);
            } catch (NumberFormatException e) {
                ratio = "";
            }
        }
        sb.append(' ').append(theirs == null ? "–" : trim(theirs)).append(" | ").append(ratio).append(" |");
    }

    @Override
    public String toString() {
        return sb.toString();
    }

    static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    /** The figures of a diffusers bench output: its JSON lines' numbers and the {@code *peak_mem_gb N} lines. */
    static Map<String, Double> figures(Path diffusersOut) throws IOException {
        Map<String, Double> d = new LinkedHashMap<>();
        if (diffusersOut != null && Files.isRegularFile(diffusersOut)) {
            String text = Files.readString(diffusersOut);
            for (Pattern p : new Pattern[] {JSON_NUMBER, PEAK_LINE}) {
                Matcher m = p.matcher(text);
                while (m.find()) {
                    d.put(m.group(1), Double.parseDouble(m.group(2)));
                }
            }
        }
        return d;
    }

    /** The torch.compile mode of the compiled baseline in a diffusers bench output, or null when it has none. */
    static String compileMode(Path diffusersOut) throws IOException {
        if (diffusersOut == null || !Files.isRegularFile(diffusersOut)) {
            return null;
        }
        Matcher m = MODE_LINE.matcher(Files.readString(diffusersOut));
        return m.find() ? m.group(1).strip() : null;
    }
}
