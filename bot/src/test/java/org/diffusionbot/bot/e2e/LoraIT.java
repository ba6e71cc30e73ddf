package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedCallback;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.common.messages.WorkerHeartbeat.Addon;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.diffusionbot.worker.runtime.WorkerRuntime;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * LoRAs in the bot through the fake Discord, the real bot, PostgreSQL, RabbitMQ and a worker runtime that announces
 * LoRAs and embeddings in its heartbeats (its images are synthetic; the engine's use of LoRAs is tested in the
 * worker): {@code /loras} lists them, a prompt naming an unknown LoRA or one for another model family is refused
 * before anything is charged with the closest names, {@code /admin loras} limits LoRAs per prompt, and the info
 * button shows the LoRAs a job used.
 */
class LoraIT {
    static final Duration WAIT = Duration.ofSeconds(30);
    static final QuotaPolicy POLICY = new QuotaPolicy(100, 4);
    static BotHarness h;

    @BeforeAll
    static void start() throws Exception {
        h = new BotHarness(POLICY.dailyImages(), POLICY.maxActive());
        WorkerRuntime w = h.startWorker("lora-worker", new SyntheticGenerator(0), 4);
        w.announce(() -> List.of(new Addon("sd15_kohya", "sd1"), new Addon("Watercolor", "sd1"),
                        new Addon("sd15_locon", "sd1"), new Addon("xl_style", "sdxl")),
                () -> List.of(new Addon("easynegative", "sd1"), new Addon("xlneg", "sdxl")));
        FakeUser u = h.discord.createUser("lister");
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!loras(u, Opt.string("search", "kohya")).contains("sd15_kohya")) { // the next heartbeat has them
            assertTrue(System.nanoTime() < deadline, "the worker's LoRAs never reached the bot");
            Thread.sleep(200);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        h.close();
    }

    @Test
    void lorasListsWhatTheWorkersAnnounceWithSearchAndFamily() {
        FakeUser u = h.discord.createUser("ana");
        String all = loras(u);
        assertTrue(all.contains("**LoRAs**\n• `sd15_kohya` · SD 1.x\n• `sd15_locon` · SD 1.x\n• `Watercolor` · SD 1.x\n"
                + "• `xl_style` · SDXL\n**Embeddings**\n• `easynegative` · SD 1.x\n• `xlneg` · SDXL"), all);
        assertTrue(all.contains("`<lora:NAME:WEIGHT>`"), "says how to use them: " + all);
        String xl = loras(u, Opt.string("family", "sdxl"));
        assertTrue(xl.contains("`xl_style`") && xl.contains("`xlneg`") && !xl.contains("kohya"), xl);
        String water = loras(u, Opt.string("search", "COLOR"));
        assertTrue(water.contains("`Watercolor`") && !water.contains("kohya") && !water.contains("Embeddings"), water);
        assertEquals("No worker announces a LoRA or an embedding matching `pixel` right now.",
                loras(u, Opt.string("search", "pixel")));
    }

    @Test
    void anUnknownLoraIsRefusedAtOnceWithTheClosestNamesAndNothingIsCharged() {
        FakeUser bo = h.discord.createUser("bo");
        InteractionHandle i = h.discord.slashCommand("imagine", bo, Opt.string("prompt", "a castle <lora:sd15_koyha:0.8>"));
        RecordedCallback cb = i.awaitCallback(WAIT);
        assertTrue(cb.isEphemeral());
        assertEquals("❌ there is no LoRA `sd15_koyha` for `" + h.model + "`; closest: `sd15_kohya`. Nothing was"
                + " charged.", cb.content());
        InteractionHandle neg = h.discord.slashCommand("imagine", bo, Opt.string("prompt", "a castle"),
                Opt.string("negative", "<lora:watercolour:-1>"));
        assertTrue(neg.awaitCallback(WAIT).content().contains("closest: `Watercolor`"), "the negative prompt too");
        assertNothingCharged(bo);
    }

    @Test
    void aLoraForAnotherFamilyIsRefusedAndNothingIsCharged() {
        FakeUser cy = h.discord.createUser("cy");
        InteractionHandle i = h.discord.slashCommand("imagine", cy, Opt.string("prompt", "a lake <lora:XL_STYLE:1>"));
        RecordedCallback cb = i.awaitCallback(WAIT);
        assertTrue(cb.isEphemeral());
        assertTrue(cb.content().startsWith("❌ LoRA `XL_STYLE` is for SDXL models and `" + h.model + "` is an SD 1.x"
                + " model"), cb.content());
        assertNothingCharged(cy);
    }

    @Test
    void adminsLimitLorasPerPromptAndARefusalChargesNothing() throws Exception {
        FakeUser mod = h.discord.createUser("lora-mod", true);
        assertTrue(admin(mod, Opt.sub("loras")).startsWith("One prompt may use at most 4 LoRAs on this server"));
        assertTrue(admin(mod, Opt.sub("loras", Opt.integer("max", 1))).startsWith("✅ One prompt may use at most 1 LoRA"));
        FakeUser dee = h.discord.createUser("dee");
        try {
            InteractionHandle two = h.discord.slashCommand("imagine", dee, Opt.string("prompt",
                    "<lora:sd15_kohya:0.5> a fox"), Opt.string("negative", "<lora:watercolor:-0.3>"));
            RecordedMessage refusal = two.awaitFollowup(RecordedMessage::isEphemeral, WAIT);
            assertEquals("❌ this server allows at most 1 LoRA per prompt (the prompt and the negative prompt"
                    + " together); yours names 2. Nothing was charged.", refusal.content());
            assertNothingCharged(dee);
            assertTrue(admin(mod, Opt.sub("loras", Opt.integer("max", 0))).contains("LoRAs are turned off"));
            InteractionHandle one = h.discord.slashCommand("imagine", dee, Opt.string("prompt", "<lora:sd15_kohya> a"));
            assertTrue(one.awaitFollowup(RecordedMessage::isEphemeral, WAIT).content().contains("LoRAs are turned off"));
            assertNothingCharged(dee);
        } finally {
            admin(mod, Opt.sub("loras", Opt.integer("max", 4)));
        }
        FakeUser member = h.discord.createUser("not-a-lora-mod");
        assertTrue(h.discord.slashCommand("admin", member, Opt.sub("loras", Opt.integer("max", 20)))
                .awaitCallback(WAIT).content().contains("Manage Server"));
    }

    @Test
    void aJobWithLorasRunsAndTheInfoButtonShowsThem() throws Exception {
        FakeUser eve = h.discord.createUser("eve");
        InteractionHandle i = h.discord.slashCommand("imagine", eve,
                Opt.string("prompt", "a castle <lora:WATERCOLOR:0.8>, easynegative"),
                Opt.string("negative", "blurry <lora:sd15_kohya:0.5:1>"), Opt.integer("steps", 2));
        RecordedMessage done = BotHarness.finalImage(i, WAIT);
        UUID id = h.awaitDelivered(eve, WAIT).id();
        assertEquals(1, h.bot.store().quota(eve.idLong(), POLICY).usedToday());
        InteractionHandle info = h.discord.buttonClick(done.id(), "info:" + id, eve);
        assertTrue(info.awaitCallback(WAIT).isEphemeral());
        String text = info.awaitOriginalEdit(m -> true, WAIT).content();
        assertTrue(text.contains("**LoRAs:** `sd15_kohya` TE 0.5 / UNet 1, `WATERCOLOR` 0.8"), text);
        assertTrue(text.contains("/imagine prompt:a castle <lora:WATERCOLOR:0.8>, easynegative negative:blurry"
                + " <lora:sd15_kohya:0.5:1>"), "the line reproduces the tags: " + text);
    }

    private static void assertNothingCharged(FakeUser u) {
        assertTrue(h.bot.store().recentJobs(u.idLong(), 5).isEmpty(), "no job recorded");
        assertEquals(0, h.bot.store().quota(u.idLong(), POLICY).usedToday(), "nothing charged");
    }

    static String loras(FakeUser u, Opt... options) {
        InteractionHandle i = h.discord.slashCommand("loras", u, options);
        assertTrue(i.awaitCallback(WAIT).isEphemeral());
        return i.awaitOriginalEdit(m -> true, WAIT).content();
    }

    static String admin(FakeUser u, Opt sub) {
        InteractionHandle i = h.discord.slashCommand("admin", u, sub);
        RecordedCallback cb = i.awaitCallback(WAIT);
        assertTrue(cb.isEphemeral());
        if (cb.type() == RecordedCallback.CHANNEL_MESSAGE_WITH_SOURCE) {
            return cb.content();
        }
        return i.awaitOriginalEdit(m -> true, WAIT).content();
    }
}
