package org.diffusionbot.bot.reliability;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/** Stops and starts the local PostgreSQL and RabbitMQ servers (the ones the test suite runs against). */
final class Services {
    private Services() {
    }

    static void rabbitStopApp() throws Exception {
        run(Duration.ofSeconds(60), "rabbitmqctl", "stop_app");
    }

    static void rabbitStartApp() throws Exception {
        run(Duration.ofSeconds(120), "rabbitmqctl", "start_app");
        run(Duration.ofSeconds(120), "rabbitmqctl", "await_startup");
    }

    static void postgres(String action) throws Exception {
        String version = new String(new ProcessBuilder("bash", "-c", "ls /etc/postgresql | sort -V | tail -n1")
                .start().getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        run(Duration.ofSeconds(60), "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action);
    }

    private static void run(Duration timeout, String... cmd) throws Exception {
        Process p = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).start();
        if (!p.waitFor(timeout.toSeconds(), java.util.concurrent.TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + " timed out");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
    }
}
