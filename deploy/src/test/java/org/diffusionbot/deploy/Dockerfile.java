package org.diffusionbot.deploy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The instructions of a Dockerfile (comments dropped, continuation lines joined), enough for the checks of
 * {@link ComposeAndDockerfilesTest}: what {@code COPY} takes from the build context, what {@code ENV} sets.
 */
record Dockerfile(Path path, List<Instruction> instructions) {

    /** One instruction: {@code keyword} upper-case, {@code args} the rest of its (joined) line. */
    record Instruction(String keyword, String args) {
    }

    static Dockerfile read(Path path) throws IOException {
        List<Instruction> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : Files.readAllLines(path)) {
            String l = line.strip();
            if (l.startsWith("#")) {
                continue;
            }
            if (l.endsWith("\\")) {
                current.append(l, 0, l.length() - 1).append(' ');
                continue;
            }
            current.append(l);
            String joined = current.toString().strip();
            current.setLength(0);
            if (!joined.isEmpty()) {
                int sp = joined.indexOf(' ');
                out.add(new Instruction(joined.substring(0, sp).toUpperCase(java.util.Locale.ROOT),
                        joined.substring(sp + 1).strip()));
            }
        }
        return new Dockerfile(path, out);
    }

    List<String> args(String keyword) {
        return instructions.stream().filter(i -> i.keyword().equals(keyword)).map(Instruction::args).toList();
    }

    /** The sources of every {@code COPY}/{@code ADD} that reads the build context (no {@code --from}). */
    List<String> contextSources() {
        List<String> out = new ArrayList<>();
        for (Instruction i : instructions) {
            if (!i.keyword().equals("COPY") && !i.keyword().equals("ADD")) {
                continue;
            }
            List<String> words = new ArrayList<>(List.of(i.args().split("\\s+")));
            if (words.stream().anyMatch(w -> w.startsWith("--from="))) {
                continue;
            }
            words.removeIf(w -> w.startsWith("--"));
            out.addAll(words.subList(0, words.size() - 1));
        }
        return out;
    }

    /** Every variable {@code ENV} sets ({@code KEY=value} form), in order. */
    Map<String, String> env() {
        Map<String, String> out = new LinkedHashMap<>();
        for (String args : args("ENV")) {
            for (String pair : args.split("\\s+")) {
                int eq = pair.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException(path + ": ENV without KEY=value: " + args);
                }
                out.put(pair.substring(0, eq), pair.substring(eq + 1));
            }
        }
        return out;
    }
}
