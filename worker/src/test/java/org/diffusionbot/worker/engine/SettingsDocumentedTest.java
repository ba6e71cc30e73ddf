package org.diffusionbot.worker.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every {@code SD_*} setting the worker's code names is in docs/GPU.md's list of switches (the paragraph that
 * starts "Switches (environment"), and the list names none that the code no longer reads: the list is where an
 * operator looks them up.
 */
class SettingsDocumentedTest {
    private static final Pattern NAME = Pattern.compile("\\bSD_[A-Z0-9_]*[A-Z0-9]\\b");

    @Test
    void everySettingTheCodeReadsIsInGpuMdsSwitchList() throws IOException {
        Set<String> inCode = new TreeSet<>();
        try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                Matcher m = Pattern.compile("\"(SD_[A-Z0-9_]+)\"").matcher(Files.readString(f));
                while (m.find()) {
                    inCode.add(m.group(1));
                }
            }
        }
        assertTrue(inCode.size() >= 10, "the scan found the settings: " + inCode);

        String doc = Files.readString(Path.of("../docs/GPU.md"));
        int start = doc.indexOf("Switches (environment");
        assertTrue(start >= 0, "docs/GPU.md has its switch list");
        int end = doc.indexOf("\n\n", start);
        Set<String> listed = new TreeSet<>();
        Matcher m = NAME.matcher(doc.substring(start, end < 0 ? doc.length() : end));
        while (m.find()) {
            listed.add(m.group());
        }
        Set<String> missing = new TreeSet<>(inCode);
        missing.removeAll(listed);
        Set<String> stale = new TreeSet<>(listed);
        stale.removeAll(inCode);
        assertEquals(List.of(), List.copyOf(missing), "settings the code reads but docs/GPU.md's switch list lacks");
        assertEquals(List.of(), List.copyOf(stale), "settings docs/GPU.md's switch list names but the code never reads");
    }
}
