package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedCallback;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.junit.jupiter.api.Test;

/**
 * Benchmark of the plumbing (not part of the test suite): fake Discord → bot → RabbitMQ → N workers
 * with a no-op pipeline → bot → fake Discord. Reports jobs/s and the latency from the interaction to
 * the defer and to the first progress edit. Run it with
 * {@code mvn -B -ntp verify -pl bot -am -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false -Dit.test=PlumbingBench -Dbench.jobs=1000 -Dbench.workers=4}.
 */
class PlumbingBench {
    @Test
    void plumbingThroughput() throws Exception {
        int jobs = Integer.getInteger("bench.jobs", 1000);
        int workers = Integer.getInteger("bench.workers", 4);
        int users = Integer.getInteger("bench.users", 50);
        double rate = Double.parseDouble(System.getProperty("bench.rate", "120"));
        try (BotHarness h = new BotHarness(1_000_000, 1_000)) {
            for (int w = 0; w < workers; w++) {
                h.startWorker("bench-" + w, new SyntheticGenerator(0), 8);
            }
            List<FakeUser> people = new ArrayList<>();
            for (int u = 0; u < users; u++) {
                people.add(h.discord.createUser("user" + u));
            }
            warmUp(h, people.get(0));
            List<InteractionHandle> handles = new ArrayList<>(jobs);
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
            Instant deadline = Instant.now().plus(Duration.ofMinutes(3));
            for (InteractionHandle i : handles) {
                RecordedMessage done;
                try {
                    done = i.awaitOriginalEdit(m -> m.attachment("preview.png").isEmpty()
                            && !m.attachments().isEmpty(), Duration.between(Instant.now(), deadline).plusSeconds(1));
                } catch (AssertionError e) {
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
            double seconds = Duration.between(start, lastDone).toMillis() / 1000.0;
            System.out.printf("%nPLUMBING BENCH: %d jobs offered at %.0f/s, %d workers (no-op pipeline, batch 8), %d users%n",
                    jobs, rate, workers, users);
            System.out.printf("  unfinished        %d%n", unfinished);
            System.out.printf("  throughput        %.1f jobs/s (%.2f s from first interaction to last final image)%n",
                    jobs / seconds, seconds);
            System.out.printf("  defer latency     p50 %d ms, p99 %d ms, max %d ms%n", pct(defer, 50), pct(defer, 99),
                    pct(defer, 100));
            System.out.printf("  first progress    p50 %d ms, p99 %d ms (%d of %d jobs showed progress)%n",
                    pct(firstProgress, 50), pct(firstProgress, 99), firstProgress.size(), jobs);
            assertEquals(jobs, handles.size());
        }
    }

    private static void warmUp(BotHarness h, FakeUser u) {
        for (int i = 0; i < 20; i++) {
            h.discord.slashCommand("imagine", u, Opt.string("prompt", "warm-up"), Opt.integer("steps", 2),
                    Opt.integer("width", 64), Opt.integer("height", 64))
                    .awaitOriginalEdit(m -> !m.attachments().isEmpty(), Duration.ofSeconds(30));
        }
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
