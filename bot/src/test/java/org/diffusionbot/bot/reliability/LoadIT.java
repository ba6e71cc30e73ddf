package org.diffusionbot.bot.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.diffusionbot.bot.e2e.BotHarness;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.db.QuotaStatus;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.junit.jupiter.api.Test;

/**
 * Load: 50 simulated users, each keeping up to 3 jobs in flight (the active-job cap) until 40 of its
 * jobs finished — 2,000 jobs through the fake Discord, the bot, RabbitMQ and 4 workers with a fast
 * pipeline. Zero lost, zero duplicated, quotas exact; fairness is measured as the spread of the users'
 * median waits and Jain's index over their throughput.
 */
class LoadIT {
    static final int USERS = Integer.getInteger("load.users", 50);
    static final int JOBS_PER_USER = Integer.getInteger("load.jobsPerUser", 40);
    static final int IN_FLIGHT = 3;
    static final QuotaPolicy POLICY = new QuotaPolicy(JOBS_PER_USER, IN_FLIGHT);

    @Test
    void twoThousandJobsFromFiftyUsers() throws Exception {
        try (BotHarness h = new BotHarness(POLICY.dailyImages(), POLICY.maxActive())) {
            for (int w = 0; w < 4; w++) {
                h.startWorker("load-" + w, new SyntheticGenerator(200_000), 8);
            }
            List<FakeUser> users = new ArrayList<>();
            for (int u = 0; u < USERS; u++) {
                users.add(h.discord.createUser("u" + u));
            }
            AtomicInteger refused = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(USERS * IN_FLIGHT);
            List<List<Long>> waits = new ArrayList<>();
            long start = System.nanoTime();
            List<Future<?>> running = new ArrayList<>();
            for (FakeUser u : users) {
                List<Long> mine = Collections.synchronizedList(new ArrayList<>());
                waits.add(mine);
                AtomicInteger left = new AtomicInteger(JOBS_PER_USER);
                for (int lane = 0; lane < IN_FLIGHT; lane++) {
                    running.add(pool.submit(() -> {
                        while (left.getAndDecrement() > 0) {
                            long t0 = System.nanoTime();
                            InteractionHandle i = h.discord.slashCommand("imagine", u,
                                    Opt.string("prompt", "load " + left.get()), Opt.integer("steps", 10),
                                    Opt.integer("width", 64), Opt.integer("height", 64));
                            RecordedMessage m = i.awaitOriginalEdit(x -> (!x.attachments().isEmpty()
                                    && x.attachment("preview.png").isEmpty()) || x.content().contains("failed")
                                    || i.followups().size() > 0, Duration.ofMinutes(5));
                            if (!i.followups().isEmpty() || m.content().contains("failed")) {
                                refused.incrementAndGet();
                                left.incrementAndGet(); // try again
                            } else {
                                mine.add((System.nanoTime() - t0) / 1_000_000);
                            }
                        }
                        return null;
                    }));
                }
            }
            for (Future<?> f : running) {
                f.get();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            pool.shutdown();

            int jobs = 0;
            int images = 0;
            for (FakeUser u : users) {
                List<JobRecord> mine = h.bot.store().recentJobs(u.idLong(), 1_000);
                for (JobRecord j : mine) {
                    assertEquals(JobState.SUCCEEDED, j.state(), "lost or failed: " + j);
                    images += h.bot.store().images(j.id()).size();
                }
                jobs += mine.size();
                QuotaStatus q = h.bot.store().quota(u.idLong(), POLICY);
                assertEquals(JOBS_PER_USER, q.usedToday(), "charged exactly once per job");
                assertEquals(0, q.activeJobs());
            }
            assertEquals(USERS * JOBS_PER_USER, jobs, "zero lost");
            assertEquals(USERS * JOBS_PER_USER, images, "zero duplicated");

            List<Long> medians = new ArrayList<>();
            List<Long> all = new ArrayList<>();
            double sum = 0;
            double sumSq = 0;
            for (List<Long> w : waits) {
                List<Long> s = new ArrayList<>(w);
                Collections.sort(s);
                medians.add(s.get(s.size() / 2));
                all.addAll(s);
                double rate = s.size() * 1000.0 / s.stream().mapToLong(Long::longValue).sum();
                sum += rate;
                sumSq += rate * rate;
            }
            Collections.sort(medians);
            Collections.sort(all);
            double jain = sum * sum / (waits.size() * sumSq);
            System.out.printf("RELIABILITY load: %d jobs from %d users (≤%d in flight each), 4 workers; %d completed,"
                    + " 0 lost, 0 duplicated, %d refused by the active-job cap and retried; %.1f jobs/s; wait p50 %d ms,"
                    + " p99 %d ms; per-user median wait min %d / max %d ms; Jain fairness index %.3f%n",
                    jobs, USERS, IN_FLIGHT, jobs, refused.get(), jobs / seconds, all.get(all.size() / 2),
                    all.get((int) (all.size() * 0.99)), medians.get(0), medians.get(medians.size() - 1), jain);
        }
    }
}
