package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.diffusionbot.bot.BotConfig;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedCallback;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.junit.jupiter.api.Test;

/**
 * Benchmark of the plumbing (not part of the test suite): fake Discord → bot → RabbitMQ → N workers
 * with a no-op pipeline → bot → fake Discord. Reports jobs/s, the latency from the interaction to
 * the defer and to the first progress edit, and the CPU spent per job by this JVM, PostgreSQL and RabbitMQ.
 * Run it with
 * {@code mvn -B -ntp verify -pl bot -am -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false
 * -Dfailsafe.failIfNoSpecifiedTests=false -Dit.test=PlumbingBench -Dbench.jobs=3000 -Dbench.rate=105
 * -Dbench.warmup=2000 -Dbench.workers=4} (docs/BENCHMARKS.md). Properties: {@code bench.jobs}, {@code bench.rate}
 * (offered per second), {@code bench.workers}, {@code bench.users}, {@code bench.warmup} (jobs offered at 40/s
 * and awaited before measuring, default 500), {@code bench.previewEvery} (default 5, the bot's default),
 * {@code bench.threads} (CPU per thread group).
 */
class PlumbingBench {
    /** Runs the benchmark without Maven (e.g. under a profiler): {@code java -cp <test classpath> ...PlumbingBench}. */
    public static void main(String[] args) throws Exception {
        new PlumbingBench().plumbingThroughput();
        System.exit(0);
    }

    @Test
    void plumbingThroughput() throws Exception {
        int jobs = Integer.getInteger("bench.jobs", 1000);
        int workers = Integer.getInteger("bench.workers", 4);
        int users = Integer.getInteger("bench.users", 50);
        double rate = Double.parseDouble(System.getProperty("bench.rate", "100"));
        // the bot's default PREVIEW_EVERY (5), not the test harness's 2
        int previewEvery = Integer.getInteger("bench.previewEvery", 5);
        try (BotHarness h = new BotHarness(1_000_000, 1_000, c -> new BotConfig(c.discordToken(),
                c.discordApiBaseUrl(), c.discordGatewayUrl(), c.db(), c.rabbit(), c.defaultModel(),
                c.dailyImageLimit(), c.maxActiveJobs(), previewEvery, c.galleryBind(), c.galleryPort(),
                c.adminRoleIds(), c.heartbeatSeconds(), c.resultsQueue(), c.quotaWeights()))) {
            for (int w = 0; w < workers; w++) {
                h.startWorker("bench-" + w, new SyntheticGenerator(0), 8);
            }
            List<FakeUser> people = new ArrayList<>();
            for (int u = 0; u < users; u++) {
                people.add(h.discord.createUser("user" + u));
            }
            warmUp(h, people, Integer.getInteger("bench.warmup", 500));
            List<InteractionHandle> handles = new ArrayList<>(jobs);
            long cpuStart = processCpuNanos();
            long jitStart = java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
            java.util.Map<String, Long> serversStart = serverCpuTicks();
            java.util.Map<String, Long> threadsStart = cpuByThreadGroup();
            Instant start = Instant.now();
            long intervalNanos = (long) (1e9 / rate);
            for (int i = 0; i < jobs; i++) {
                long due = start.toEpochMilli() * 1_000_000L + i * intervalNanos;
                long wait = due - System.currentTimeMillis() * 1_000_000L;
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                handles.add(h.discord.slashCommand("imagine", people.get(i % users),
                        Opt.string("prompt", "bench " + i), Opt.integer("steps", 20), Opt.integer("width", 64),
                        Opt.integer("height", 64)));
            }
            Instant lastDone = start;
            List<Long> defer = new ArrayList<>();
            List<Long> firstProgress = new ArrayList<>();
            int unfinished = 0;
            int unacknowledged = 0;
            Instant deadline = Instant.now().plus(Duration.ofMinutes(3));
            for (InteractionHandle i : handles) {
                java.util.function.Predicate<RecordedMessage> finalImage = m -> m.attachment("preview.png").isEmpty()
                        && !m.attachments().isEmpty();
                Object outcome;
                try {
                    // the final image, or Discord's refusal of a deferral later than 3 s (then nothing follows)
                    outcome = h.discord.await("job " + i, Duration.between(Instant.now(), deadline).plusSeconds(1),
                            () -> !h.discord.lateCallbacks(i.token()).isEmpty() ? "late"
                                    : i.originalEdits().stream().filter(finalImage).findFirst().orElse(null));
                } catch (AssertionError e) {
                    unfinished++;
                    continue;
                }
                if (!(outcome instanceof RecordedMessage done)) {
                    defer.add(h.discord.lateCallbacks(i.token()).get(0).toMillis()); // counted, not hidden
                    unacknowledged++;
                    unfinished++;
                    continue;
                }
                if (done.at().isAfter(lastDone)) {
                    lastDone = done.at();
                }
                RecordedCallback cb = i.callbacks().get(0);
                defer.add(cb.latency().toMillis());
                Instant sent = cb.at().minus(cb.latency());
                i.originalEdits().stream().filter(m -> m.content().contains("step ")).findFirst()
                        .ifPresent(m -> firstProgress.add(Duration.between(sent, m.at()).toMillis()));
            }
            long cpuNanos = processCpuNanos() - cpuStart;
            long jitMillis = java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime()
                    - jitStart;
            java.util.Map<String, Long> serversEnd = serverCpuTicks();
            double seconds = Duration.between(start, lastDone).toMillis() / 1000.0;
            System.out.printf("%nPLUMBING BENCH: %d jobs offered at %.0f/s, %d workers (no-op pipeline, batch 8), %d users,"
                    + " preview every %d steps of 20%n", jobs, rate, workers, users, previewEvery);
            System.out.printf("  unfinished        %d (%d deferred later than Discord's 3 s)%n", unfinished,
                    unacknowledged);
            System.out.printf("  throughput        %.1f jobs/s finished (%.2f s from first interaction to last final image)%n",
                    (jobs - unfinished) / seconds, seconds);
            System.out.printf("  CPU of this JVM   %.1f ms per offered job (fake Discord, bot and workers; %.1f s in all;"
                    + " the JIT compilers were busy %.1f s of it)%n", cpuNanos / 1e6 / jobs, cpuNanos / 1e9, jitMillis / 1e3);
            for (String server : serversEnd.keySet()) {
                // clock ticks of 10 ms; backends that started or ended in between are counted partly
                System.out.printf("  CPU of %-9s %.1f ms per offered job (its processes on this machine)%n", server,
                        (serversEnd.get(server) - serversStart.getOrDefault(server, 0L)) * 10.0 / jobs);
            }
            System.out.printf("  defer latency     p50 %d ms, p99 %d ms, max %d ms%n", pct(defer, 50), pct(defer, 99),
                    pct(defer, 100));
            System.out.printf("  first progress    p50 %d ms, p99 %d ms (%d of %d jobs showed progress)%n",
                    pct(firstProgress, 50), pct(firstProgress, 99), firstProgress.size(), jobs);
            if (Boolean.getBoolean("bench.threads")) {
                java.util.Map<String, Long> threadsEnd = cpuByThreadGroup();
                threadsEnd.entrySet().stream()
                        .map(e -> java.util.Map.entry(e.getKey(), e.getValue() - threadsStart.getOrDefault(e.getKey(), 0L)))
                        .sorted(java.util.Map.Entry.<String, Long>comparingByValue().reversed()).limit(25)
                        .forEach(e -> System.out.printf("    %-40s %7.0f ms%n", e.getKey(), e.getValue() / 1e6));
            }
            assertEquals(jobs, handles.size());
        }
    }

    /** CPU time of the live threads, by name without trailing numbers (threads that ended are missing). */
    private static java.util.Map<String, Long> cpuByThreadGroup() {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        java.util.Map<String, Long> out = new java.util.HashMap<>();
        for (java.lang.management.ThreadInfo t : mx.getThreadInfo(mx.getAllThreadIds())) {
            if (t == null) {
                continue;
            }
            long cpu = mx.getThreadCpuTime(t.getThreadId());
            if (cpu > 0) {
                out.merge(t.getThreadName().replaceAll("[-# ]*[0-9]+$", ""), cpu, Long::sum);
            }
        }
        return out;
    }

    /** User + system clock ticks of the PostgreSQL and RabbitMQ processes (Linux /proc; empty elsewhere). */
    private static java.util.Map<String, Long> serverCpuTicks() {
        java.util.Map<String, Long> out = new java.util.TreeMap<>();
        java.io.File[] procs = new java.io.File("/proc").listFiles(f -> f.getName().matches("[0-9]+"));
        for (java.io.File p : procs == null ? new java.io.File[0] : procs) {
            try {
                String stat = java.nio.file.Files.readString(p.toPath().resolve("stat"));
                String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                String server = comm.startsWith("postgres") ? "postgres" : comm.startsWith("beam.smp") ? "rabbitmq" : null;
                if (server != null) {
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    out.merge(server, Long.parseLong(f[11]) + Long.parseLong(f[12]), Long::sum);
                }
            } catch (java.io.IOException | RuntimeException e) {
                // the process ended meanwhile
            }
        }
        return out;
    }

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /**
     * JIT compilation and class loading out of the measurement: {@code count} jobs like the measured ones at
     * 40/s (well below saturation), all awaited, then a pause for the compiler to finish.
     */
    private static void warmUp(BotHarness h, List<FakeUser> people, int count) throws InterruptedException {
        List<InteractionHandle> warm = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            warm.add(h.discord.slashCommand("imagine", people.get(i % people.size()), Opt.string("prompt", "warm-up " + i),
                    Opt.integer("steps", 20), Opt.integer("width", 64), Opt.integer("height", 64)));
            Thread.sleep(25);
        }
        for (InteractionHandle i : warm) {
            try {
                i.awaitOriginalEdit(m -> !m.attachments().isEmpty() && m.attachment("preview.png").isEmpty(),
                        Duration.ofSeconds(30));
            } catch (AssertionError e) {
                // a warm-up deferral Discord refused: nothing to wait for
            }
        }
        Thread.sleep(2_000);
    }

    private static long pct(List<Long> values, int p) {
        if (values.isEmpty()) {
            return -1;
        }
        List<Long> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int idx = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, idx)));
    }
}
