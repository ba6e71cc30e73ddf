package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.Predicate;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedCallback;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.diffusionbot.worker.runtime.WorkerRuntime;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The buttons under a finished image, /settings, /models and /admin through the fake Discord, with the real
 * PostgreSQL and RabbitMQ and a synthetic worker (the content of the images does not matter here;
 * {@link TinyModelButtonsIT} runs a variation and an upscale on the real engine).
 */
class ButtonsAndAdminIT {
    static final Duration WAIT = Duration.ofSeconds(30);
    static final QuotaPolicy POLICY = new QuotaPolicy(30, 3);
    static BotHarness h;
    /** A role with no Discord permission that the bot's configuration makes an admin role. */
    static String modRole;

    @BeforeAll
    static void start() throws Exception {
        String role = Long.toUnsignedString(System.nanoTime() | (1L << 60));
        modRole = role;
        h = new BotHarness(POLICY.dailyImages(), POLICY.maxActive(),
                c -> c.withAdmin(Set.of(Long.parseUnsignedLong(role)), 1));
        h.startWorker("ux-worker", new SyntheticGenerator(1_000_000), 4);
    }

    @AfterAll
    static void stop() throws Exception {
        h.close();
    }

    @Test
    void rerollVariationAndUpscaleAreNewJobsWithTheRightParametersEachCharged() throws Exception {
        FakeUser alice = h.discord.createUser("alice");
        RecordedMessage done = imagine(alice, Opt.string("prompt", "a castle in the clouds"), Opt.integer("count", 2),
                Opt.integer("seed", 10), Opt.integer("steps", 4), Opt.integer("width", 64), Opt.integer("height", 64),
                Opt.number("cfg", 5.5), Opt.string("sampler", "euler"), Opt.string("negative", "fog"));
        JobRecord first = jobs(alice).get(0);
        UUID id = first.id();
        assertTrue(done.customIds().containsAll(List.of("reroll:" + id, "info:" + id, "delete:" + id,
                "var:" + id + ":0", "var:" + id + ":1", "up:" + id + ":0", "up:" + id + ":1")), done.customIds().toString());
        assertEquals(List.of("🔄 Reroll", "ℹ️ Info", "🗑️ Delete", "V1", "V2", "U1", "U2"), done.buttonLabels());

        // reroll: same parameters, new seed, same count
        InteractionHandle reroll = h.discord.buttonClick(done.id(), "reroll:" + id, alice);
        RecordedCallback ack = reroll.awaitCallback(WAIT);
        assertEquals(RecordedCallback.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, ack.type());
        assertTrue(ack.latency().toMillis() < 3000, "acknowledged within 3 s: " + ack.latency());
        RecordedMessage rerolled = reroll.awaitOriginalEdit(m -> m.attachments().size() == 2, WAIT);
        JobRecord r = awaitDelivered(alice, 2);
        assertEquals("reroll", r.kind());
        assertEquals(first.prompt(), r.prompt());
        assertEquals("fog", r.negativePrompt());
        assertEquals(List.of(64, 64, 4, 2, 5.5, "euler"), List.of(r.width(), r.height(), r.steps(), r.imageCount(),
                r.cfg(), r.sampler()));
        assertNotEquals(10L, r.seed());
        assertEquals(null, r.strength());
        assertTrue(rerolled.customIds().contains("reroll:" + r.id()), "the new images have their own buttons");

        // V2: img2img of the second image at its size, new seed, moderate strength
        InteractionHandle v = h.discord.buttonClick(done.id(), "var:" + id + ":1", alice);
        v.awaitOriginalEdit(m -> m.attachments().size() == 1 && m.content().contains("seed"), WAIT);
        JobRecord var = awaitDelivered(alice, 3);
        assertEquals("variation", var.kind());
        assertEquals(List.of(64, 64, 1, 4), List.of(var.width(), var.height(), var.imageCount(), var.steps()));
        assertEquals(0.6, var.strength());
        assertNotEquals(11L, var.seed());
        assertParentAndInitImage(var.id(), id, 1);

        // U1: twice the size, low strength, the image's own seed
        InteractionHandle u = h.discord.buttonClick(done.id(), "up:" + id + ":0", alice);
        RecordedMessage up = u.awaitOriginalEdit(m -> m.attachments().size() == 1 && m.content().contains("seed"), WAIT);
        JobRecord ups = awaitDelivered(alice, 4);
        assertEquals("upscale", ups.kind());
        assertEquals(List.of(128, 128, 1), List.of(ups.width(), ups.height(), ups.imageCount()));
        assertEquals(0.35, ups.strength());
        assertEquals(10L, ups.seed());
        assertTrue(up.content().contains("128x128"), up.content());
        assertParentAndInitImage(ups.id(), id, 0);

        assertEquals(2 + 2 + 1 + 1, h.bot.store().quota(alice.idLong(), POLICY).usedToday(), "every press is charged");
    }

    @Test
    void pressingAButtonIsChargedToThePresserAndRefusedWhenTheirQuotaIsOut() throws Exception {
        FakeUser ann = h.discord.createUser("ann");
        FakeUser ben = h.discord.createUser("ben");
        RecordedMessage done = imagine(ann, Opt.string("prompt", "shared"), Opt.integer("steps", 2),
                Opt.integer("width", 64), Opt.integer("height", 64));
        UUID id = jobs(ann).get(0).id();
        h.bot.store().setQuotaOverride(ben.idLong(), "ben", 0, null);
        InteractionHandle v = h.discord.buttonClick(done.id(), "var:" + id + ":0", ben);
        RecordedMessage refused = v.awaitFollowup(RecordedMessage::isEphemeral, WAIT);
        assertTrue(refused.content().contains("0 of 0 left today"), refused.content());
        assertTrue(jobs(ben).isEmpty());
        h.bot.store().setQuotaOverride(ben.idLong(), "ben", null, null);
        InteractionHandle v2 = h.discord.buttonClick(done.id(), "var:" + id + ":0", ben);
        v2.awaitOriginalEdit(m -> m.attachments().size() == 1 && m.content().contains("seed"), WAIT);
        assertEquals(1, h.bot.store().quota(ben.idLong(), POLICY).usedToday());
        assertEquals(1, h.bot.store().quota(ann.idLong(), POLICY).usedToday());
    }

    @Test
    void upscaleBeyondTheSizeLimitIsRefusedAndChargesNothing() throws Exception {
        FakeUser cy = h.discord.createUser("cy");
        RecordedMessage done = imagine(cy, Opt.string("prompt", "big"), Opt.integer("steps", 1),
                Opt.string("size", "1024x1024"));
        UUID id = jobs(cy).get(0).id();
        InteractionHandle u = h.discord.buttonClick(done.id(), "up:" + id + ":0", cy);
        assertTrue(u.awaitCallback(WAIT).latency().toMillis() < 3000);
        RecordedMessage refused = u.awaitFollowup(RecordedMessage::isEphemeral, WAIT);
        assertTrue(refused.content().contains("cannot be upscaled") && refused.content().contains("2048x2048"),
                refused.content());
        assertEquals(1, jobs(cy).size(), "no job recorded");
        assertEquals(1, h.bot.store().quota(cy.idLong(), POLICY).usedToday(), "only the first image is charged");
    }

    @Test
    void derivedJobsThatWouldRunNoDenoisingStepAreRefusedBeforeCharging() throws Exception {
        FakeUser gus = h.discord.createUser("gus");
        // U at strength 0.35 on a 2-step image and V at 0.6 on a 1-step image run floor(steps × strength) = 0 steps
        for (int steps : new int[] {2, 1}) {
            RecordedMessage done = imagine(gus, Opt.string("prompt", "few steps"), Opt.integer("steps", steps),
                    Opt.integer("width", 64), Opt.integer("height", 64));
            UUID id = jobs(gus).get(0).id();
            int jobsBefore = jobs(gus).size();
            int usedBefore = h.bot.store().quota(gus.idLong(), POLICY).usedToday();
            String button = (steps == 2 ? "up:" : "var:") + id + ":0";
            InteractionHandle press = h.discord.buttonClick(done.id(), button, gus);
            RecordedMessage refused = press.awaitFollowup(RecordedMessage::isEphemeral, WAIT);
            assertTrue(refused.content().contains("runs no denoising step")
                    && refused.content().contains("Nothing was charged"), refused.content());
            assertEquals(jobsBefore, jobs(gus).size(), button + ": no job recorded");
            assertEquals(usedBefore, h.bot.store().quota(gus.idLong(), POLICY).usedToday(), button + ": not charged");
        }
    }

    @Test
    void promptsWithEmojiAndMaskedLinksAreShownWholeAndInert() throws Exception {
        FakeUser hal = h.discord.createUser("hal");
        // the excerpt's 300-character cut falls inside the emoji by UTF-16 index
        String prompt = "a".repeat(299) + "😀 [free nitro](https://evil.example/login) # <t:0:R>";
        RecordedMessage done = imagine(hal, Opt.string("prompt", prompt), Opt.integer("steps", 1),
                Opt.integer("width", 64), Opt.integer("height", 64));
        assertTrue(done.content().startsWith("**" + "a".repeat(299) + "…**"), done.content());
        RecordedMessage shown = imagine(hal, Opt.string("prompt", "look " + prompt.substring(299)),
                Opt.integer("steps", 1), Opt.integer("width", 64), Opt.integer("height", 64));
        assertTrue(shown.content().contains("\\[free nitro\\](https://evil.example/login) # \\<t:0:R>"),
                shown.content());
    }

    @Test
    void deleteIsForTheAuthorOrAnAdminOnly() throws Exception {
        FakeUser dan = h.discord.createUser("dan");
        FakeUser eve = h.discord.createUser("eve");
        FakeUser boss = h.discord.createUser("boss", true);
        RecordedMessage a = imagine(dan, Opt.string("prompt", "mine"), Opt.integer("steps", 1),
                Opt.integer("width", 64), Opt.integer("height", 64));
        UUID first = jobs(dan).get(0).id();
        InteractionHandle wrong = h.discord.buttonClick(a.id(), "delete:" + first, eve);
        RecordedMessage no = wrong.awaitOriginalEdit(m -> true, WAIT);
        assertTrue(wrong.awaitCallback(WAIT).isEphemeral());
        assertTrue(no.content().contains("Only the author"), no.content());
        assertFalse(h.discord.messageDeleted(a.id()));
        assertEquals(1, visibleImages(first));

        InteractionHandle own = h.discord.buttonClick(a.id(), "delete:" + first, dan);
        assertTrue(own.awaitOriginalEdit(m -> true, WAIT).content().contains("Deleted"));
        try {
            poll("message deleted", WAIT, () -> h.discord.messageDeleted(a.id()) ? true : null);
        } catch (AssertionError e) {
            throw new AssertionError("msg " + a.id() + " ch " + a.channelId() + " " + h.discord.requests().stream()
                    .filter(r -> r.method().equals("DELETE")).toList(), e);
        }
        assertEquals(0, visibleImages(first));

        RecordedMessage b = imagine(dan, Opt.string("prompt", "mine again"), Opt.integer("steps", 1),
                Opt.integer("width", 64), Opt.integer("height", 64));
        UUID second = jobs(dan).get(0).id();
        InteractionHandle byAdmin = h.discord.buttonClick(b.id(), "delete:" + second, boss);
        assertTrue(byAdmin.awaitOriginalEdit(m -> true, WAIT).content().contains("Deleted"));
        poll("message deleted", WAIT, () -> h.discord.messageDeleted(b.id()) ? true : null);
        assertEquals(0, visibleImages(second));
    }

    @Test
    void infoShowsEveryParameterAndAnImagineLineThatReproducesTheImage() throws Exception {
        FakeUser fay = h.discord.createUser("fay");
        RecordedMessage done = imagine(fay, Opt.string("prompt", "a *bold* @everyone fox"), Opt.integer("steps", 3),
                Opt.integer("seed", 42), Opt.integer("width", 64), Opt.integer("height", 128),
                Opt.string("sampler", "ddim"), Opt.number("cfg", 6.5), Opt.string("negative", "blur"));
        UUID id = jobs(fay).get(0).id();
        FakeUser other = h.discord.createUser("other");
        InteractionHandle i = h.discord.buttonClick(done.id(), "info:" + id, other);
        assertTrue(i.awaitCallback(WAIT).isEphemeral());
        String info = i.awaitOriginalEdit(m -> true, WAIT).content();
        assertTrue(info.contains("/imagine prompt:a *bold* @everyone fox negative:blur steps:3 cfg:6.5 seed:42 sampler:ddim"
                + " width:64 height:128 model:" + h.model), info);
        assertTrue(info.contains("DDIM") && info.contains("64x128") && info.contains("`" + id + "`"), info);
        assertTrue(info.contains("\\*bold\\* @\u200beveryone"), "escaped outside the code block: " + info);
    }

    @Test
    void adminCommandsAreRefusedToMembersWithoutPermissionAndNothingChanges() throws Exception {
        FakeUser gil = h.discord.createUser("gil");
        for (Opt sub : List.of(Opt.sub("pause"), Opt.sub("workers"), Opt.sub("ban", Opt.user("user", gil)),
                Opt.sub("quota", Opt.user("user", gil), Opt.integer("daily", 1000)), Opt.sub("negative"))) {
            InteractionHandle i = h.discord.slashCommand("admin", gil, sub);
            RecordedCallback cb = i.awaitCallback(WAIT);
            assertEquals(RecordedCallback.CHANNEL_MESSAGE_WITH_SOURCE, cb.type());
            assertTrue(cb.isEphemeral());
            assertTrue(cb.content().contains("Manage Server"), cb.content());
        }
        assertFalse(h.bot.store().quota(gil.idLong(), POLICY).dailyLimit() == 1000);
        imagine(gil, Opt.string("prompt", "still allowed"), Opt.integer("steps", 1), Opt.integer("width", 64),
                Opt.integer("height", 64));
        // a member whose Manage Server was revoked is refused at once
        FakeUser hal = h.discord.createUser("hal", true);
        h.discord.setManageServer(hal, false);
        assertTrue(h.discord.slashCommand("admin", hal, Opt.sub("pause")).awaitCallback(WAIT).content()
                .contains("Manage Server"));
    }

    @Test
    void pauseRefusesNewJobsWithoutChargeUntilResumeAndAConfiguredRoleIsAnAdmin() throws Exception {
        FakeUser mod = h.discord.createUser("mod");
        h.discord.grantRole(mod, modRole);
        FakeUser ivy = h.discord.createUser("ivy");
        String p = admin(mod, Opt.sub("pause"));
        assertTrue(p.contains("Paused"), p);
        try {
            InteractionHandle i = h.discord.slashCommand("imagine", ivy, Opt.string("prompt", "during pause"));
            RecordedMessage refused = i.awaitFollowup(RecordedMessage::isEphemeral, WAIT);
            assertTrue(refused.content().contains("paused"), refused.content());
            assertTrue(jobs(ivy).isEmpty());
            assertEquals(0, h.bot.store().quota(ivy.idLong(), POLICY).usedToday());
            assertTrue(admin(mod, Opt.sub("workers")).contains("Paused"));
        } finally {
            assertTrue(admin(mod, Opt.sub("resume")).contains("Resumed"));
        }
        imagine(ivy, Opt.string("prompt", "after pause"), Opt.integer("steps", 1), Opt.integer("width", 64),
                Opt.integer("height", 64));
    }

    @Test
    void banRefusesAUsersJobsUntilUnbanned() throws Exception {
        FakeUser boss = h.discord.createUser("boss2", true);
        FakeUser jay = h.discord.createUser("jay");
        assertTrue(admin(boss, Opt.sub("ban", Opt.user("user", jay))).contains("is banned"));
        InteractionHandle i = h.discord.slashCommand("imagine", jay, Opt.string("prompt", "banned"));
        assertTrue(i.awaitFollowup(RecordedMessage::isEphemeral, WAIT).content().contains("not allowed"));
        assertTrue(jobs(jay).isEmpty());
        assertTrue(admin(boss, Opt.sub("unban", Opt.user("user", jay))).contains("may generate images again"));
        imagine(jay, Opt.string("prompt", "forgiven"), Opt.integer("steps", 1), Opt.integer("width", 64),
                Opt.integer("height", 64));
    }

    @Test
    void quotaPerRoleAndPerUser() throws Exception {
        FakeUser boss = h.discord.createUser("boss3", true);
        String vip = h.discord.newId();
        FakeUser kim = h.discord.createUser("kim");
        h.discord.grantRole(kim, vip);
        String both = admin(boss, Opt.sub("quota", Opt.user("user", kim), new Opt("role", 8, vip, List.of(), false)));
        assertTrue(both.contains("either a user or a role"), both);
        assertTrue(admin(boss, Opt.sub("quota", new Opt("role", 8, vip, List.of(), false), Opt.integer("daily", 1)))
                .contains("1 images a day"));
        InteractionHandle q = h.discord.slashCommand("quota", kim);
        assertTrue(q.awaitOriginalEdit(m -> true, WAIT).content().contains("of 1 images left"));
        InteractionHandle two = h.discord.slashCommand("imagine", kim, Opt.string("prompt", "two"), Opt.integer("count", 2));
        assertTrue(two.awaitFollowup(RecordedMessage::isEphemeral, WAIT).content().contains("1 of 1 left today"));
        // a user override beats the role
        assertTrue(admin(boss, Opt.sub("quota", Opt.user("user", kim), Opt.integer("daily", 5))).contains("5 images"));
        imagine(kim, Opt.string("prompt", "two now"), Opt.integer("count", 2), Opt.integer("steps", 1),
                Opt.integer("width", 64), Opt.integer("height", 64));
        assertEquals(2, h.bot.store().quota(kim.idLong(), POLICY).usedToday());
    }

    @Test
    void settingsAndTheServersDefaultNegativeApplyToImagine() throws Exception {
        FakeUser boss = h.discord.createUser("boss4", true);
        FakeUser lea = h.discord.createUser("lea");
        FakeUser max = h.discord.createUser("max");
        assertTrue(admin(boss, Opt.sub("negative", Opt.string("text", "lowres, watermark"))).contains("lowres"));
        try {
            InteractionHandle bad = h.discord.slashCommand("settings", lea, Opt.integer("steps", 3),
                    Opt.string("negative", "bad\u0001"));
            assertTrue(bad.awaitCallback(WAIT).content().contains("control character"));
            InteractionHandle s = h.discord.slashCommand("settings", lea, Opt.integer("steps", 3),
                    Opt.string("sampler", "euler"), Opt.number("cfg", 4.0), Opt.string("size", "640x640"),
                    Opt.string("negative", "blurry"), Opt.bool("gallery", false), Opt.number("guidance_rescale", 0.7),
                    Opt.integer("clip_skip", 2));
            String saved = s.awaitOriginalEdit(m -> true, WAIT).content();
            assertTrue(saved.contains("Saved") && saved.contains("640x640") && saved.contains("kept out of the gallery")
                    && saved.contains("guidance rescale: 0.7") && saved.contains("clip skip: 2"), saved);
            InteractionHandle shown = h.discord.slashCommand("settings", lea);
            String listed = shown.awaitOriginalEdit(m -> true, WAIT).content();
            assertTrue(listed.contains("• clip skip: 2"), listed);
            // Discord itself keeps clip_skip in 1..12 (the registered min/max; the fake checks them as Discord does);
            // the bot's own check of a crafted value is ImagineOptionsTest's and UserSettingsServiceTest's
            assertTrue(assertThrows(IllegalArgumentException.class, () -> h.discord.slashCommand("settings", lea,
                    Opt.integer("clip_skip", 13))).getMessage().contains("above max_value"));
            imagine(lea, Opt.string("prompt", "with my defaults"));
            JobRecord j = jobs(lea).get(0);
            assertEquals(List.of(3, "euler", 4.0, 640, 640, "blurry", 2), List.of(j.steps(), j.sampler(), j.cfg(),
                    j.width(), j.height(), j.negativePrompt(), j.clipSkip()));
            assertEquals(List.of("2", "Clip skip: 2"), publishedClipSkip(j.id()),
                    "the published request carries it and the worker ran it (its PNG parameters)");
            assertFalse(galleryPublic(lea));
            imagine(lea, Opt.string("prompt", "explicit wins"), Opt.integer("steps", 2), Opt.string("negative", "dark"),
                    Opt.integer("width", 64), Opt.integer("height", 64));
            JobRecord k = jobs(lea).get(0);
            assertEquals(List.of(2, "euler", 64, "dark", 2), List.of(k.steps(), k.sampler(), k.width(),
                    k.negativePrompt(), k.clipSkip()));
            imagine(lea, Opt.string("prompt", "explicit clip skip wins"), Opt.integer("steps", 1),
                    Opt.integer("width", 64), Opt.integer("height", 64), Opt.integer("clip_skip", 3));
            assertEquals(3, jobs(lea).get(0).clipSkip());
            imagine(lea, Opt.string("prompt", "explicit 1 wins"), Opt.integer("steps", 1),
                    Opt.integer("width", 64), Opt.integer("height", 64), Opt.integer("clip_skip", 1));
            assertEquals(0, jobs(lea).get(0).clipSkip(), "SD 1.x's 1, its default, is recorded as none");
            assertEquals(List.of("0", ""), publishedClipSkip(jobs(lea).get(0).id()), "1 is not written into the PNG");
            assertTrue(assertThrows(IllegalArgumentException.class, () -> h.discord.slashCommand("imagine", lea,
                    Opt.string("prompt", "x"), Opt.integer("clip_skip", 0))).getMessage().contains("below min_value"));
            // no user setting: the server's default negative prompt
            imagine(max, Opt.string("prompt", "server default"), Opt.integer("steps", 1), Opt.integer("width", 64),
                    Opt.integer("height", 64));
            assertEquals("lowres, watermark", jobs(max).get(0).negativePrompt());
            // reset forgets the defaults
            InteractionHandle r = h.discord.slashCommand("settings", lea, Opt.bool("reset", true));
            String reset = r.awaitOriginalEdit(m -> true, WAIT).content();
            assertTrue(reset.contains("bot default (30)") && reset.contains("clip skip: the model's default (1"), reset);
        } finally {
            admin(boss, Opt.sub("negative"));
        }
    }

    @Test
    void workersAnnounceModelsForModelsAutocompleteAndAdminWorkersWhichShowsLostOnes() throws Exception {
        FakeUser boss = h.discord.createUser("boss5", true);
        FakeUser nia = h.discord.createUser("nia");
        WorkerRuntime extra = h.startWorker("ux-extra-worker", new SyntheticGenerator(1_000_000), 1);
        poll("extra worker seen", WAIT, () -> admin(boss, Opt.sub("workers")).contains("ux-extra-worker")
                ? true : null);
        String workers = admin(boss, Opt.sub("workers"));
        String line = workers.lines().filter(l -> l.contains("`ux-worker`")).findFirst().orElseThrow();
        assertTrue(line.contains(h.model) && line.contains("jobs done") && line.contains("steps/s")
                && line.contains("last heartbeat <t:") && !line.contains("lost"), line);

        InteractionHandle models = h.discord.slashCommand("models", nia);
        String list = models.awaitOriginalEdit(m -> true, WAIT).content();
        assertTrue(list.contains("`" + h.model + "` (default) — SD 1.x, 512x512 · 2 workers"), list);

        InteractionHandle ac = h.discord.autocomplete("imagine", nia, Opt.string("prompt", "x"),
                Opt.focused("model", Opt.STRING, h.model.substring(0, 6)));
        RecordedCallback choices = ac.awaitCallback(WAIT);
        assertEquals(RecordedCallback.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT, choices.type());
        List<String> names = new ArrayList<>();
        List<String> shown = new ArrayList<>();
        for (JsonNode c : choices.data().path("choices")) {
            names.add(c.path("value").asText());
            shown.add(c.path("name").asText());
        }
        assertTrue(names.contains(h.model), names.toString());
        assertTrue(shown.contains(h.model + " — SD 1.x"), "the family beside the name: " + shown);

        extra.close(); // silent from now on: lost after 3 heartbeats (1 s each here)
        String lost = poll("extra worker lost", WAIT, () -> {
            String w = admin(boss, Opt.sub("workers"));
            return w.lines().anyMatch(l -> l.contains("ux-extra-worker") && l.contains("**lost**")) ? w : null;
        });
        assertTrue(lost.lines().anyMatch(l -> l.contains("`ux-worker`") && !l.contains("lost")), lost);
        String after = h.discord.slashCommand("models", nia).awaitOriginalEdit(m -> true, WAIT).content();
        assertTrue(after.contains("`" + h.model + "` (default) — SD 1.x, 512x512 · 1 worker"), after);
        assertEquals(WorkerHeartbeat.State.values().length, 5);
    }

    // ------------------------------------------------------------------------------------------------

    private static RecordedMessage imagine(FakeUser u, Opt... options) {
        InteractionHandle i = h.discord.slashCommand("imagine", u, options);
        return i.awaitOriginalEdit(m -> !m.attachments().isEmpty() && m.content().contains("seed")
                && m.attachment("preview.png").isEmpty(), WAIT);
    }

    /** Runs an /admin subcommand and returns the (ephemeral) answer. */
    private static String admin(FakeUser u, Opt sub) {
        InteractionHandle i = h.discord.slashCommand("admin", u, sub);
        RecordedCallback cb = i.awaitCallback(WAIT);
        assertTrue(cb.isEphemeral());
        if (cb.type() == RecordedCallback.CHANNEL_MESSAGE_WITH_SOURCE) {
            return cb.content();
        }
        return i.awaitOriginalEdit(m -> true, WAIT).content();
    }

    /** Polls (without holding the fake's lock: the probes talk to it and to the database) until non-null. */
    private static <T> T poll(String what, Duration timeout, java.util.function.Supplier<T> probe) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            T v = probe.get();
            if (v != null) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    private static List<JobRecord> jobs(FakeUser u) {
        return h.bot.store().recentJobs(u.idLong(), 20);
    }

    /** Waits until the user has {@code n} jobs and the newest was shown; returns the newest. */
    private static JobRecord awaitDelivered(FakeUser u, int n) {
        return poll("job " + n + " of " + u.username() + " delivered", WAIT, () -> {
            List<JobRecord> js = jobs(u);
            return js.size() == n && js.get(0).deliveredAt() != null && js.get(0).state() == JobState.SUCCEEDED
                    ? js.get(0) : null;
        });
    }

    private static Connection sql() throws Exception {
        return DriverManager.getConnection(h.testDb.settings().url(), h.testDb.settings().user(),
                h.testDb.settings().password());
    }

    /** The job's parent is image {@code index} of {@code parentJob}, and its published init image is that PNG. */
    private static void assertParentAndInitImage(UUID job, UUID parentJob, int index) throws Exception {
        try (Connection c = sql(); PreparedStatement ps = c.prepareStatement("""
                SELECT j.parent_image_id = i.id, decode(j.request->>'init_image', 'base64') = i.png
                  FROM jobs j, images i WHERE j.id = ? AND i.job_id = ? AND i.image_index = ?""")) {
            ps.setObject(1, job);
            ps.setObject(2, parentJob);
            ps.setInt(3, index);
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next());
                assertTrue(rs.getBoolean(1), "parent_image_id is the pressed image");
                assertTrue(rs.getBoolean(2), "the init image is the pressed image's PNG");
            }
        }
    }

    /**
     * The clip skip of the job's stored request (the JSON the bot published) and the {@code Clip skip: N} of its first
     * image's parameters, which the worker writes from the request it received ("" when absent).
     */
    private static List<String> publishedClipSkip(UUID job) throws Exception {
        try (Connection c = sql(); PreparedStatement ps = c.prepareStatement("""
                SELECT j.request->>'clip_skip', coalesce(substring(i.parameters from 'Clip skip: [0-9]+'), '')
                  FROM jobs j JOIN images i ON i.job_id = j.id WHERE j.id = ? AND i.image_index = 0""")) {
            ps.setObject(1, job);
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next(), "job " + job + " has an image");
                return List.of(rs.getString(1), rs.getString(2));
            }
        }
    }

    private static int visibleImages(UUID job) throws Exception {
        try (Connection c = sql(); PreparedStatement ps = c.prepareStatement(
                "SELECT count(*) FROM images WHERE job_id = ? AND visible")) {
            ps.setObject(1, job);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    private static boolean galleryPublic(FakeUser u) throws Exception {
        try (Connection c = sql(); PreparedStatement ps = c.prepareStatement(
                "SELECT gallery_public FROM users WHERE id = ?")) {
            ps.setLong(1, u.idLong());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }
}
