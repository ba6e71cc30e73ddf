package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.diffusionbot.bot.fakediscord.FakeChannel;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedCallback;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.worker.runtime.JobOutcome;
import org.diffusionbot.worker.runtime.SafetyCheckingGenerator;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Moderation end to end through the fake Discord, the real bot, PostgreSQL, RabbitMQ and a worker runtime whose
 * images pass a stand-in safety check (the real checker is {@code SafetyCheckerTest}'s): the channel's
 * age-restricted flag as Discord sends it in the interaction reaches the job and the worker; {@code /admin
 * moderation}'s blocked terms, default list and channel rule refuse jobs before anything is charged, and are
 * audited.
 */
class ModerationIT {
    static final Duration WAIT = Duration.ofSeconds(30);
    static BotHarness h;
    /** Images the stand-in check has seen. */
    static final AtomicInteger checked = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        h = new BotHarness(100, 4);
        SafetyCheckingGenerator.Check check = (w, hgt, rgb) -> {
            checked.addAndGet(rgb.size());
            return rgb.stream().map(im -> new JobOutcome.Safety(false, -0.05f)).toList();
        };
        h.startWorker("moderation-worker", new SafetyCheckingGenerator(new SyntheticGenerator(0), check,
                SafetyCheckingGenerator::needsCheck, null), 4);
    }

    @AfterAll
    static void stop() throws Exception {
        h.close();
    }

    @Test
    void theChannelsAgeRestrictedFlagTravelsWithTheJobToTheWorker() throws Exception {
        FakeUser ada = h.discord.createUser("ada");
        FakeChannel nsfw = h.discord.createTextChannel("after-dark", true);

        int before = checked.get();
        InteractionHandle restricted = h.discord.slashCommand("imagine", List.of(Opt.string("prompt", "a moth"),
                Opt.integer("steps", 2)), ada, h.discord.guild(), nsfw);
        BotHarness.finalImage(restricted, WAIT);
        JobRecord job = h.awaitDelivered(ada, WAIT);
        assertTrue(ageRestricted(job.id()), "jobs.age_restricted of a job from an age-restricted channel");
        assertTrue(publishedAgeRestricted(job.id()), "and the request the worker got says so");
        assertEquals(before, checked.get(), "the worker did not check the images of an age-restricted channel");

        FakeUser bo = h.discord.createUser("bo");
        InteractionHandle ordinary = h.discord.slashCommand("imagine", bo, Opt.string("prompt", "a moth"),
                Opt.integer("steps", 2), Opt.integer("count", 2));
        BotHarness.finalImage(ordinary, WAIT);
        JobRecord job2 = h.awaitDelivered(bo, WAIT);
        assertFalse(ageRestricted(job2.id()));
        assertFalse(publishedAgeRestricted(job2.id()));
        assertEquals(before + 2, checked.get(), "both images of the job from #general were checked");
    }

    @Test
    void aBlockedPromptIsRefusedPrivatelyNamingTheTermChargesNothingAndIsAudited() throws Exception {
        FakeUser mod = h.discord.createUser("mod-blocks", true);
        assertTrue(admin(mod, Opt.sub("block", Opt.string("term", "Grüesome"))).startsWith("✅ Blocked `Grüesome`"));
        assertTrue(admin(mod, Opt.sub("block", Opt.string("term", "/sp+ider/"))).startsWith("✅ Blocked `/sp+ider/`"));
        assertTrue(admin(mod, Opt.sub("block", Opt.string("term", "/(?=x)/"))).contains("❌"),
                "a pattern RE2 does not have is refused with the reason");
        assertTrue(admin(mod, Opt.sub("block", Opt.string("term", "/sp+ider/"))).contains("already blocked"));

        FakeUser cy = h.discord.createUser("cy");
        InteractionHandle i = h.discord.slashCommand("imagine", cy, Opt.string("prompt", "a cat"),
                Opt.string("negative", "(GRUESOME:1.4), blurry"));
        RecordedMessage refusal = i.awaitFollowup(RecordedMessage::isEphemeral, WAIT);
        assertEquals("❌ your negative prompt contains `Grüesome`, which is blocked on this server. Nothing was"
                + " charged.", refusal.content());
        InteractionHandle j = h.discord.slashCommand("imagine", cy, Opt.string("prompt", "a sppppider\u200b web"));
        assertTrue(j.awaitFollowup(RecordedMessage::isEphemeral, WAIT).content().contains("`/sp+ider/`"));
        assertTrue(h.bot.store().recentJobs(cy.idLong(), 5).isEmpty(), "no job recorded");
        assertEquals(0, h.bot.store().quota(cy.idLong(), new org.diffusionbot.db.QuotaPolicy(100, 4)).usedToday(),
                "nothing charged");

        String audit = admin(mod, Opt.sub("audit"));
        assertTrue(audit.contains("<@" + cy.id() + "> refusal: blocked /sp+ider/ in the prompt: a sppppider"), audit);
        assertTrue(audit.contains("<@" + mod.id() + "> block: word Grüesome"), audit);

        assertTrue(admin(mod, Opt.sub("unblock", Opt.string("term", "/sp+ider/"))).startsWith("✅ Unblocked"));
        assertTrue(admin(mod, Opt.sub("unblock", Opt.string("term", "/sp+ider/"))).contains("is not blocked"));
        InteractionHandle k = h.discord.slashCommand("imagine", cy, Opt.string("prompt", "a spider"),
                Opt.integer("steps", 2));
        BotHarness.finalImage(k, WAIT);

        String list = admin(mod, Opt.sub("list"));
        assertTrue(list.contains("default list of blocked terms: off") && list.contains("• `Grüesome`")
                && !list.contains("sp+ider"), list);
        FakeUser member = h.discord.createUser("not-a-mod");
        assertTrue(h.discord.slashCommand("admin", member, Opt.group("moderation", Opt.sub("list")))
                .awaitCallback(WAIT).content().contains("Only members with the Manage Server permission"));
    }

    @Test
    void theDefaultListAppliesOnceTurnedOn() throws Exception {
        FakeUser mod = h.discord.createUser("mod-defaults", true);
        FakeUser dee = h.discord.createUser("dee");
        String term = org.diffusionbot.bot.moderation.BlockedTerm.defaults().get(0).term().replace("*", "");
        InteractionHandle allowed = h.discord.slashCommand("imagine", dee, Opt.string("prompt", "a " + term),
                Opt.integer("steps", 2));
        BotHarness.finalImage(allowed, WAIT);
        assertTrue(admin(mod, Opt.sub("defaults", Opt.bool("enabled", true))).startsWith("✅"));
        try {
            InteractionHandle refused = h.discord.slashCommand("imagine", dee, Opt.string("prompt", "a " + term));
            assertTrue(refused.awaitFollowup(RecordedMessage::isEphemeral, WAIT).content()
                    .contains("which is blocked on this server"));
            assertEquals(1, h.bot.store().recentJobs(dee.idLong(), 5).size());
        } finally {
            admin(mod, Opt.sub("defaults", Opt.bool("enabled", false)));
        }
    }

    @Test
    void aServerCanRequireAgeRestrictedChannelsWhileTheWorkersDoNotCheckImages() throws Exception {
        FakeUser mod = h.discord.createUser("mod-channels", true);
        FakeUser eve = h.discord.createUser("eve");
        FakeChannel nsfw = h.discord.createTextChannel("late-night", true);
        assertTrue(admin(mod, Opt.sub("require-age-restricted", Opt.bool("enabled", true))).startsWith("✅"));
        try {
            // no worker serves this model, so none checks its images: refused outside age-restricted channels
            InteractionHandle refused = h.discord.slashCommand("imagine", eve, Opt.string("prompt", "a cat"),
                    Opt.string("model", "unchecked-model"));
            String text = refused.awaitFollowup(RecordedMessage::isEphemeral, WAIT).content();
            assertTrue(text.contains("only in age-restricted channels") && text.contains("`unchecked-model`")
                    && text.endsWith("Nothing was charged."), text);
            assertTrue(h.bot.store().recentJobs(eve.idLong(), 5).isEmpty());
            // the harness's worker checks images: allowed in #general
            BotHarness.finalImage(h.discord.slashCommand("imagine", eve, Opt.string("prompt", "a cat"),
                    Opt.integer("steps", 2)), WAIT);
            // and in an age-restricted channel the rule does not apply (the job is then refused only because no
            // worker has ever served that model, and refunded)
            InteractionHandle there = h.discord.slashCommand("imagine", List.of(Opt.string("prompt", "a cat"),
                    Opt.string("model", "unchecked-model")), eve, h.discord.guild(), nsfw);
            String t2 = there.awaitFollowup(RecordedMessage::isEphemeral, WAIT).content();
            assertFalse(t2.contains("age-restricted"), t2);
            assertEquals(0, h.bot.store().recentJobs(eve.idLong(), 5).stream()
                    .filter(jr -> jr.state() == org.diffusionbot.db.JobState.QUEUED).count());
            assertTrue(admin(mod, Opt.sub("list")).contains("age-restricted channels required while images are not"
                    + " checked: yes"));
        } finally {
            admin(mod, Opt.sub("require-age-restricted", Opt.bool("enabled", false)));
        }
    }

    /** {@code /admin moderation <sub>} by {@code u}: the ephemeral answer. */
    static String admin(FakeUser u, Opt sub) {
        InteractionHandle i = h.discord.slashCommand("admin", u, Opt.group("moderation", sub));
        RecordedCallback cb = i.awaitCallback(WAIT);
        assertTrue(cb.isEphemeral());
        if (cb.type() == RecordedCallback.CHANNEL_MESSAGE_WITH_SOURCE) {
            return cb.content();
        }
        return i.awaitOriginalEdit(m -> true, WAIT).content();
    }

    static boolean ageRestricted(UUID jobId) throws SQLException {
        return queryBoolean("SELECT age_restricted FROM jobs WHERE id = ?", jobId);
    }

    static boolean publishedAgeRestricted(UUID jobId) throws SQLException {
        return queryBoolean("SELECT (request ->> 'age_restricted')::boolean FROM jobs WHERE id = ?", jobId);
    }

    static boolean queryBoolean(String sql, Object arg) throws SQLException {
        try (Connection c = connect(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setObject(1, arg);
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next(), "no row for " + arg);
                return rs.getBoolean(1);
            }
        }
    }

    static Connection connect() throws SQLException {
        return DriverManager.getConnection(h.testDb.settings().url(), h.testDb.settings().user(),
                h.testDb.settings().password());
    }
}
