package org.diffusionbot.bot.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.MessageProperties;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.diffusionbot.bot.e2e.BotHarness;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedCallback;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.mq.RabbitTestSupport;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Bad input: fuzzed slash-command options and hostile queue messages. Nothing crashes, nothing is half-written. */
class FuzzIT {
    static final Duration WAIT = Duration.ofSeconds(60);
    static final QuotaPolicy POLICY = new QuotaPolicy(100_000, 100_000);
    static BotHarness h;

    @BeforeAll
    static void start() throws Exception {
        h = new BotHarness(POLICY.dailyImages(), POLICY.maxActive());
        h.startWorker("fuzz-worker", new SyntheticGenerator(0), 8);
    }

    @AfterAll
    static void stop() throws Exception {
        h.close();
    }

    static final String[] HOSTILE = {
        "<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>", "'; DROP TABLE jobs; --",
        "@everyone @here <@1> <#2> <@&3>", "**bold** __u__ ~~s~~ `c` ```block```", "\u202Eevil\u202C right-to-left",
        "zero\u200Bwidth\uFEFF", "🐱‍👤🏳️‍🌈👩🏽‍🚀", "ｆｕｌｌｗｉｄｔｈ", "\\(escaped\\) ((nested:1.5)) [less] BREAK more",
        "null", "%s%s%n", "${jndi:ldap://x}", "a\u0000b", "tab\tand\nnewline", "\u0007bell", "\uD800",
    };

    static String randomPrompt(Random r) {
        StringBuilder sb = new StringBuilder();
        int parts = 1 + r.nextInt(6);
        for (int i = 0; i < parts; i++) {
            switch (r.nextInt(4)) {
                case 0 -> sb.append(HOSTILE[r.nextInt(HOSTILE.length)]);
                case 1 -> sb.append("word".repeat(1 + r.nextInt(100)));
                case 2 -> {
                    for (int k = 0; k < r.nextInt(40); k++) {
                        sb.appendCodePoint(r.nextInt(0x2FFFF));
                    }
                }
                default -> sb.append(' ');
            }
        }
        String s = sb.toString();
        return s.length() > 2000 ? s.substring(0, 2000) : s;
    }

    @Test
    void fuzzedSlashCommandsAreAnsweredAndNeverHalfWritten() throws Exception {
        Random r = new Random(4242);
        FakeUser u = h.discord.createUser("fuzzer");
        List<InteractionHandle> sent = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            List<Opt> opts = new ArrayList<>();
            opts.add(Opt.string("prompt", randomPrompt(r)));
            if (r.nextBoolean()) {
                opts.add(Opt.string("negative", randomPrompt(r)));
            }
            if (r.nextBoolean()) {
                opts.add(Opt.integer("width", 64 + r.nextInt(2048 - 64 + 1)));
            }
            if (r.nextBoolean()) {
                opts.add(Opt.integer("height", 64 + r.nextInt(2048 - 64 + 1)));
            }
            if (r.nextBoolean()) {
                opts.add(Opt.integer("steps", 1 + r.nextInt(150)));
            }
            if (r.nextBoolean()) {
                opts.add(Opt.number("cfg", r.nextDouble() * 30));
            }
            if (r.nextBoolean()) {
                opts.add(Opt.integer("seed", (r.nextLong() & 0xFFFF_FFFFL)));
            }
            if (r.nextBoolean()) {
                opts.add(Opt.string("sampler", Sampler.values()[r.nextInt(Sampler.values().length)].id()));
            }
            if (r.nextBoolean()) {
                opts.add(Opt.integer("count", 1 + r.nextInt(4)));
            }
            sent.add(h.discord.slashCommand("imagine", opts, u, h.discord.guild(), h.discord.channel()));
        }
        int refusedAtOnce = 0;
        int accepted = 0;
        for (InteractionHandle i : sent) {
            RecordedCallback cb = i.awaitCallback(WAIT);
            if (cb.type() == RecordedCallback.CHANNEL_MESSAGE_WITH_SOURCE) {
                assertTrue(cb.isEphemeral(), "refusals are private");
                assertTrue(cb.content().startsWith("❌ "), cb.content());
                refusedAtOnce++;
            } else {
                // accepted and finished, or refused after the deferral (the user's saved defaults) in private
                h.discord.await("outcome of " + i, WAIT, () -> !i.followups().isEmpty()
                        || i.originalEdits().stream().anyMatch(x -> x.content().contains("seed")) ? Boolean.TRUE : null);
                if (i.followups().isEmpty()) {
                    accepted++;
                } else {
                    assertTrue(i.followups().get(0).isEphemeral() && i.followups().get(0).content().startsWith("❌ "));
                    refusedAtOnce++;
                }
            }
        }
        List<JobRecord> jobs = h.bot.store().recentJobs(u.idLong(), 1_000);
        assertEquals(accepted, jobs.size(), "a job row exactly for each accepted request");
        int images = 0;
        for (JobRecord j : jobs) {
            assertEquals(JobState.SUCCEEDED, j.state());
            images += j.imageCount();
        }
        assertEquals(images, h.bot.store().quota(u.idLong(), POLICY).usedToday(), "charged for exactly what ran");
        assertTrue(h.discord.unknownRoutes().isEmpty(), h.discord.unknownRoutes().toString());
        System.out.printf("RELIABILITY slash-command fuzz: 300 commands with random unicode/hostile text and"
                + " sizes, %d refused at once with a reason, %d accepted and completed, 0 half-written jobs%n",
                refusedAtOnce, accepted);
    }

    @Test
    void hostileQueueMessagesAreDeadLetteredAndConsumersCarryOn() throws Exception {
        List<byte[]> hostile = new ArrayList<>();
        Random r = new Random(7);
        byte[] noise = new byte[4096];
        r.nextBytes(noise);
        hostile.add(noise);
        hostile.add(new byte[0]);
        hostile.add("{\"type\":\"job_request\",\"schema\":99}".getBytes(StandardCharsets.UTF_8));
        hostile.add("{\"type\":\"job_request\",\"schema\":1,\"steps\":\"many\"}".getBytes(StandardCharsets.UTF_8));
        hostile.add("{\"type\":\"rm -rf\",\"schema\":1}".getBytes(StandardCharsets.UTF_8));
        hostile.add(("[".repeat(5000) + "]".repeat(5000)).getBytes(StandardCharsets.UTF_8));
        hostile.add(("{\"type\":\"job_request\",\"schema\":1,\"prompt\":\"" + "x".repeat(8 << 20) + "\"}")
                .getBytes(StandardCharsets.UTF_8));
        hostile.add("{\"type\":\"job_result\",\"schema\":1,\"job_id\":null}".getBytes(StandardCharsets.UTF_8));
        try (Connection c = RabbitTestSupport.connect("fuzz"); Channel ch = c.createChannel()) {
            ch.confirmSelect();
            for (byte[] body : hostile) {
                ch.basicPublish(Topology.JOBS_EXCHANGE, h.model, MessageProperties.PERSISTENT_BASIC, body);
                ch.basicPublish("", h.resultsQueue, MessageProperties.PERSISTENT_BASIC, body);
            }
            ch.waitForConfirmsOrDie(30_000);
        }
        // the worker and the bot still work
        FakeUser u = h.discord.createUser("after-fuzz");
        InteractionHandle i = h.discord.slashCommand("imagine", u, Opt.string("prompt", "still alive"),
                Opt.integer("width", 64), Opt.integer("height", 64));
        i.awaitOriginalEdit(m -> !m.attachments().isEmpty() && m.content().contains("seed"), WAIT);
        System.out.printf("RELIABILITY queue fuzz: %d hostile messages to the jobs queue and %d to the results"
                + " queue (garbage, empty, wrong schema, wrong types, unknown type, 10k-deep nesting, 8 MiB prompt):"
                + " all rejected and dead-lettered, consumers kept running%n", hostile.size(), hostile.size());
    }
}
