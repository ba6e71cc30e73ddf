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
import org.diffusionbot.bot.fakediscord.RecordedAttachment;
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
 * audited; flagged images are withheld or sent as spoilers, recorded, charged and kept out of the gallery, which
 * shows only checked images from ordinary channels.
 */
class ModerationIT {
    static final Duration WAIT = Duration.ofSeconds(30);
    static BotHarness h;
    /** Images the stand-in check has seen. */
    static final AtomicInteger checked = new AtomicInteger();
    /** Which images of a checker batch (by position) the stand-in check flags; tests run one at a time. */
    static volatile java.util.function.IntPredicate flag = i -> false;

    @BeforeAll
    static void start() throws Exception {
        h = new BotHarness(100, 4);
        SafetyCheckingGenerator.Check check = (w, hgt, rgb) -> {
            checked.addAndGet(rgb.size());
            java.util.function.IntPredicate f = flag;
            return java.util.stream.IntStream.range(0, rgb.size()).mapToObj(i -> f.test(i)
                    ? new JobOutcome.Safety(true, 0.042f) : new JobOutcome.Safety(false, -0.05f)).toList();
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

    @Test
    void aFlaggedImageIsShownAsASpoilerWhereTheServerSaysSoRecordedChargedAndKeptOutOfTheGallery() throws Exception {
        FakeUser mod = h.discord.createUser("mod-spoilers", true);
        FakeUser fay = h.discord.createUser("fay");
        assertTrue(admin(mod, Opt.sub("flagged-action", Opt.string("action", "spoiler"))).contains("spoilers"));
        flag = i -> i == 1;
        try {
            InteractionHandle i = h.discord.slashCommand("imagine", fay, Opt.string("prompt", "two foxes"),
                    Opt.integer("steps", 2), Opt.integer("count", 2), Opt.integer("seed", 500));
            RecordedMessage done = BotHarness.finalImage(i, WAIT);
            assertEquals(List.of("image-500.png", "SPOILER_image-501.png"),
                    done.attachments().stream().map(RecordedAttachment::filename).toList(), done.content());
            assertTrue(done.content().contains("Image 2 was flagged by the image safety check: shown as a spoiler"),
                    done.content());
            assertEquals(List.of("V1", "U1"), done.buttonLabels().stream().filter(l -> l.matches("[VU]\\d")).toList(),
                    "nothing is derived from the flagged image");
            JobRecord job = h.awaitDelivered(fay, WAIT);
            assertEquals(2, h.bot.store().quota(fay.idLong(), new org.diffusionbot.db.QuotaPolicy(100, 4))
                    .usedToday(), "charged as run");
            String flagged = admin(mod, Opt.sub("flagged"));
            assertTrue(flagged.contains("<@" + fay.id() + "> job `" + job.id() + "` image 2, score 0.042, shown as a"
                    + " spoiler: two foxes"), flagged);
            assertEquals(List.of(h.bot.store().images(job.id()).get(0).seed()), gallerySeeds(fay),
                    "the gallery shows the image that passed, not the flagged one");
        } finally {
            flag = i -> false;
            admin(mod, Opt.sub("flagged-action", Opt.string("action", "withhold")));
        }
    }

    @Test
    void flaggedImagesAreWithheldByDefault() throws Exception {
        FakeUser mod = h.discord.createUser("mod-withhold", true);
        FakeUser gus = h.discord.createUser("gus");
        flag = i -> true;
        try {
            InteractionHandle i = h.discord.slashCommand("imagine", gus, Opt.string("prompt", "two owls"),
                    Opt.integer("steps", 2), Opt.integer("count", 2), Opt.integer("seed", 700));
            RecordedMessage done = i.awaitOriginalEdit(m -> m.content().contains("withheld"), WAIT);
            assertTrue(done.attachments().isEmpty(), "no image is sent");
            assertTrue(done.content().contains("Images 1, 2 were flagged by the image safety check and withheld"),
                    done.content());
            assertTrue(done.buttonLabels().stream().noneMatch(l -> l.matches("[VU]\\d")), done.buttonLabels().toString());
            assertTrue(done.buttonLabels().contains("🔄 Reroll"));
            JobRecord job = h.awaitDelivered(gus, WAIT);
            assertEquals(2, h.bot.store().quota(gus.idLong(), new org.diffusionbot.db.QuotaPolicy(100, 4))
                    .usedToday(), "charged as run");
            String flagged = admin(mod, Opt.sub("flagged"));
            assertTrue(flagged.contains("job `" + job.id() + "` image 1, score 0.042, withheld")
                    && flagged.contains("job `" + job.id() + "` image 2, score 0.042, withheld"), flagged);
            assertEquals(List.of(), gallerySeeds(gus));
        } finally {
            flag = i -> false;
        }
    }

    @Test
    void theGalleryShowsOnlyCheckedImagesFromOrdinaryChannels() throws Exception {
        FakeUser hal = h.discord.createUser("hal");
        FakeChannel nsfw = h.discord.createTextChannel("gallery-after-dark", true);
        BotHarness.finalImage(h.discord.slashCommand("imagine", List.of(Opt.string("prompt", "a night moth"),
                Opt.integer("steps", 2), Opt.integer("seed", 900)), hal, h.discord.guild(), nsfw), WAIT);
        BotHarness.finalImage(h.discord.slashCommand("imagine", hal, Opt.string("prompt", "a day moth"),
                Opt.integer("steps", 2), Opt.integer("seed", 910)), WAIT);
        assertEquals(List.of(910L), gallerySeeds(hal), "the unchecked image of the age-restricted channel is not shown");
    }

    @Test
    void anAdminDeletingAnotherMembersImagesIsAudited() throws Exception {
        FakeUser mod = h.discord.createUser("mod-deletes", true);
        FakeUser ivy = h.discord.createUser("ivy");
        RecordedMessage done = BotHarness.finalImage(h.discord.slashCommand("imagine", ivy,
                Opt.string("prompt", "a loud poster"), Opt.integer("steps", 2)), WAIT);
        JobRecord job = h.awaitDelivered(ivy, WAIT);
        InteractionHandle del = h.discord.buttonClick(done.id(), "delete:" + job.id(), mod);
        assertTrue(del.awaitOriginalEdit(m -> true, WAIT).content().contains("Deleted"));
        String audit = admin(mod, Opt.sub("audit"));
        assertTrue(audit.contains("<@" + mod.id() + "> hide: job " + job.id() + ": 1 image(s) hidden"), audit);
    }

    /** The seeds of a user's images in the gallery's JSON API, newest first. */
    static List<Long> gallerySeeds(FakeUser u) throws Exception {
        java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + h.bot.web().port()
                        + "/api/images?user=" + u.id())).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 404) {
            return List.of();
        }
        assertEquals(200, r.statusCode(), r.body());
        List<Long> seeds = new java.util.ArrayList<>();
        new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.body()).path("images")
                .forEach(n -> seeds.add(n.path("seed").asLong()));
        return seeds;
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
