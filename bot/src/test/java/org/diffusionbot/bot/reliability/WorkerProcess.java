package org.diffusionbot.bot.reliability;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/** A real worker process ({@code java -jar worker/target/worker.jar run}) that tests can kill or freeze. */
final class WorkerProcess implements AutoCloseable {
    static final Path JAR = Path.of("../worker/target/worker.jar");
    static final Path TINY_MODEL = Path.of("../worker/src/test/resources/reference/tiny-sd15/model");

    final Process process;
    final Path log;

    private WorkerProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    static WorkerProcess start(Map<String, String> env) throws IOException {
        if (!Files.exists(JAR)) {
            throw new IllegalStateException(JAR.toAbsolutePath() + " is missing: build the worker module first");
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        Path log = Files.createTempFile("worker-", ".log");
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx2g", "-jar", JAR.toString(), "run")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        pb.environment().put("MODEL_PATH", TINY_MODEL.toAbsolutePath().toString());
        return new WorkerProcess(pb.start(), log);
    }

    /** Waits until the worker logged that it consumes its queue. */
    void awaitConsuming(Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.readString(log).contains("consuming sd.jobs.")) {
                return;
            }
            if (!process.isAlive()) {
                throw new IllegalStateException("worker exited: " + Files.readString(log));
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("worker did not start in " + timeout + ": " + Files.readString(log));
    }

    void kill() throws InterruptedException {
        process.destroyForcibly(); // SIGKILL
        process.waitFor();
    }

    void signal(String sig) throws IOException, InterruptedException {
        new ProcessBuilder("kill", "-" + sig, Long.toString(process.pid())).inheritIO().start().waitFor();
    }

    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            signal("CONT");
            kill();
        }
        new File(log.toString()).delete();
    }
}
