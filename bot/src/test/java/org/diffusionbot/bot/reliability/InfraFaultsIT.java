package org.diffusionbot.bot.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.bot.e2e.BotHarness;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The bot, RabbitMQ and PostgreSQL restarted with jobs in flight: nothing accepted is lost, nothing
 * is shown or charged twice, and service resumes by itself. Restarts the local servers, so it runs
 * alone (Failsafe runs test classes one after another).
 */
class InfraFaultsIT {
    static final Duration WAIT = Duration.ofSeconds(120);
    static final QuotaPolicy POLICY = new QuotaPolicy(1_000, 50);
    BotHarness h;

    @BeforeEach
    void start() throws Exception {
        h = new BotHarness(POLICY.dailyImages(), POLICY.maxActive());
        h.startWorker("w1", new SyntheticGenerator(20_000_000), 4);
    }

    @AfterEach
    void stop() throws Exception {
        h.close();
    }

    @Test
    void botRestartedWithJobsInFlight() throws Exception {
        FakeUser live = h.discord.createUser("liv");
        FakeUser late = h.discord.createUser("lateo");
        InteractionHandle a = imagine(live, "still within the token", 100);
        InteractionHandle b = imagine(late, "past the token's lifetime", 100);
        a.awaitOriginalEdit(m -> m.content().contains("step "), WAIT);
        b.awaitOriginalEdit(m -> m.content().contains("step "), WAIT);
        long t0 = System.nanoTime();
        h.restartBot(() -> {
            // while the bot is down both jobs finish; their results wait in the durable results queue
            sleep(3_000);
            expireTokenInDatabase(late);
        });
        RecordedMessage shown = BotHarness.finalImage(a, WAIT);
        RecordedMessage posted = h.discord.awaitChannelMessage(b.channelId(),
                m -> m.content().contains("past the token") && !m.attachments().isEmpty(), WAIT);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(1, shown.attachments().size());
        assertTrue(posted.content().contains("<@" + late.id() + ">"));
        for (FakeUser u : List.of(live, late)) {
            JobRecord j = h.awaitDelivered(u, WAIT);
            assertEquals(JobState.SUCCEEDED, j.state());
            assertEquals(1, h.bot.store().quota(u.idLong(), POLICY).usedToday());
        }
        System.out.printf("RELIABILITY bot restart: 2 jobs in flight, 2 completed, 0 lost, 0 duplicated,"
                + " delivered %d ms after the stop (3 s of it down)%n", ms);
    }

    @Test
    void postgresRestarted() throws Exception {
        FakeUser u = h.discord.createUser("pat");
        InteractionHandle running = imagine(u, "survives the database restart", 150);
        running.awaitOriginalEdit(m -> m.content().contains("step "), WAIT);
        Services.postgres("stop");
        long down = System.nanoTime();
        try {
            InteractionHandle refused = imagine(h.discord.createUser("ray"), "while the database is down", 5);
            RecordedMessage why = refused.awaitFollowup(RecordedMessage::isEphemeral, WAIT);
            assertTrue(why.content().contains("database is unavailable"), why.content());
        } finally {
            Services.postgres("start");
        }
        long upAfter = (System.nanoTime() - down) / 1_000_000;
        BotHarness.finalImage(running, WAIT); // its result waited in the queue until the database was back
        InteractionHandle after = imagine(u, "after the restart", 5);
        BotHarness.finalImage(after, WAIT);
        long recovered = (System.nanoTime() - down) / 1_000_000;
        List<JobRecord> jobs = h.bot.store().recentJobs(u.idLong(), 10);
        assertEquals(2, jobs.size());
        assertTrue(jobs.stream().allMatch(j -> j.state() == JobState.SUCCEEDED));
        assertEquals(2, h.bot.store().quota(u.idLong(), POLICY).usedToday());
        System.out.printf("RELIABILITY postgres restart: 2 jobs sent, 2 completed, 0 lost, 0 duplicated;"
                + " requests during the outage refused with a message; down %d ms, service back %d ms after the stop%n",
                upAfter, recovered);
    }

    @Test
    void rabbitmqRestartedUnderLoad() throws Exception {
        List<FakeUser> users = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            users.add(h.discord.createUser("load" + i));
        }
        List<InteractionHandle> sent = new ArrayList<>();
        long restartAt = 0;
        for (int i = 0; i < 40; i++) {
            sent.add(imagine(users.get(i % users.size()), "job " + i, 20));
            if (i == 15) {
                Services.rabbitStopApp();
                restartAt = System.nanoTime();
            }
            if (i == 25) {
                Services.rabbitStartApp();
            }
            Thread.sleep(150);
        }
        long back = System.nanoTime();
        int completed = 0;
        int refused = 0;
        for (InteractionHandle i : sent) {
            RecordedMessage m = i.awaitOriginalEdit(x -> (!x.attachments().isEmpty() && x.attachment("preview.png").isEmpty())
                    || x.content().contains("failed"), WAIT);
            if (m.content().contains("failed")) {
                refused++;
            } else {
                completed++;
            }
        }
        long recoveredMs = (System.nanoTime() - back) / 1_000_000;
        int charged = 0;
        int images = 0;
        for (FakeUser u : users) {
            charged += h.bot.store().quota(u.idLong(), POLICY).usedToday();
            for (JobRecord j : h.bot.store().recentJobs(u.idLong(), 50)) {
                images += h.bot.store().images(j.id()).size();
                assertTrue(j.state() == JobState.SUCCEEDED, "every accepted job ends succeeded: " + j);
            }
        }
        assertEquals(40, completed + refused);
        assertEquals(0, refused, "jobs submitted while the broker was down wait in the outbox");
        assertEquals(completed, images, "one image per job, none duplicated");
        assertEquals(completed, charged, "charged once per job");
        System.out.printf("RELIABILITY rabbitmq restart: 40 jobs sent (10 while the broker was down), %d completed,"
                + " 0 lost, 0 duplicated; broker down %d ms; all finished %d ms after it was back%n", completed,
                (back - restartAt) / 1_000_000, recoveredMs);
    }

    private InteractionHandle imagine(FakeUser u, String prompt, int steps) {
        return h.discord.slashCommand("imagine", u, Opt.string("prompt", prompt), Opt.integer("steps", steps),
                Opt.integer("width", 64), Opt.integer("height", 64));
    }

    private void expireTokenInDatabase(FakeUser u) {
        try (Connection c = DriverManager.getConnection(h.testDb.settings().url(), h.testDb.settings().user(),
                h.testDb.settings().password());
                PreparedStatement ps = c.prepareStatement(
                        "UPDATE jobs SET token_expires_at = now() - interval '1 minute' WHERE user_id = ?")) {
            ps.setLong(1, u.idLong());
            ps.executeUpdate();
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
