package org.diffusionbot.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code scripts/run-local.sh} with stand-ins for {@code mvn} and {@code java} on the PATH: when the bot exits first
 * with an error, the worker's own one-line error shows too, and the script exits with the bot's status.
 */
class RunLocalScriptTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @Test
    void bothProgramsErrorsShowWhenTheBotExitsFirst(@TempDir Path tmp) throws Exception {
        Path repo = Files.createDirectories(tmp.resolve("repo/scripts"));
        Files.copy(ROOT.resolve("scripts/run-local.sh"), repo.resolve("run-local.sh"));
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        script(bin.resolve("mvn"), "exit 0");
        // the bot fails at once; the worker a little later, as a JVM checking its settings does
        script(bin.resolve("java"), """
                case "$2" in
                  bot/*) echo "bot: DISCORD_TOKEN is not set" >&2; exit 2 ;;
                  worker/*) sleep 2; echo "worker: MODEL_PATH is not set" >&2; exit 2 ;;
                esac""");
        ProcessBuilder pb = new ProcessBuilder("bash", repo.resolve("run-local.sh").toString()).redirectErrorStream(true);
        pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "run-local.sh did not finish");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, p.exitValue(), out);
        assertTrue(out.contains("bot: DISCORD_TOKEN is not set"), out);
        assertTrue(out.contains("worker: MODEL_PATH is not set"), out);
        assertTrue(out.contains("run-local.sh: the worker exited with status 2"), out);
    }

    private static void script(Path file, String body) throws IOException {
        Files.writeString(file, "#!/usr/bin/env bash\n" + body + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
}
