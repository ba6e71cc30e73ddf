package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Path;
import java.time.Duration;
import javax.imageio.ImageIO;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedAttachment;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.runtime.DiffusionGenerator;
import org.junit.jupiter.api.Test;

/**
 * SDXL end to end: {@code /imagine} through the fake Discord, the bot, RabbitMQ and a worker running the tiny SDXL
 * reference model (single file, SDXL's original naming: the worker infers the family and announces SDXL at
 * 1024x1024 in its heartbeats) on the CPU, and back. The size comes from the heartbeat: 1024x1024 without size
 * options, SDXL's 16:9 bucket 1344x768 for {@code ar:16:9}; the upscale button refuses what would exceed SDXL's limits.
 */
class SdxlFlowIT {
    static final Path TINY_SDXL = Path.of("../worker/src/test/resources/reference/tiny-sdxl/single-file.safetensors");
    static final Duration WAIT = Duration.ofSeconds(120);

    @Test
    void imagineTakesTheModelsNativeSizeFromTheHeartbeatAndArPicksItsBucket() throws Exception {
        try (BotHarness h = new BotHarness(50, 2)) {
            h.startWorker("sdxl-worker",
                    new DiffusionGenerator(ModelLoader.load(TINY_SDXL, DataType.FLOAT32, Device.cpu())), 4);
            FakeUser ann = h.discord.createUser("ann");
            String models = awaitModels(h, ann, "SDXL, 1024x1024");
            assertTrue(models.contains("`" + h.model + "` (default) — SDXL, 1024x1024 · 1 worker"), models);

            assertImage(h, ann, 11, 1024, 1024);
            RecordedMessage wide = assertImage(h, ann, 12, 1344, 768, Opt.string("ar", "16:9"));
            assertEquals(2, h.bot.store().quota(ann.idLong(), new org.diffusionbot.db.QuotaPolicy(50, 2)).usedToday());

            // U1 on the 1344x768 image would make 2688x1536: beyond SDXL's limits, refused before anything is charged
            java.util.UUID id = h.bot.store().recentJobs(ann.idLong(), 1).get(0).id();
            InteractionHandle up = h.discord.buttonClick(wide.id(), "up:" + id + ":0", ann);
            RecordedMessage refused = up.awaitFollowup(RecordedMessage::isEphemeral, WAIT);
            assertTrue(refused.content().contains("cannot be upscaled: 2× is 2688x1536")
                    && refused.content().contains("Nothing was charged"), refused.content());
            assertEquals(2, h.bot.store().quota(ann.idLong(), new org.diffusionbot.db.QuotaPolicy(50, 2)).usedToday());
        }
    }

    /** {@code /models} once the worker's heartbeat described its model. */
    private static String awaitModels(BotHarness h, FakeUser user, String expected) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        String content = "";
        while (System.nanoTime() < deadline) {
            content = h.discord.slashCommand("models", user).awaitOriginalEdit(m -> true, WAIT).content();
            if (content.contains(expected)) {
                return content;
            }
            Thread.sleep(500);
        }
        throw new AssertionError("/models never showed " + expected + ": " + content);
    }

    private static RecordedMessage assertImage(BotHarness h, FakeUser user, long seed, int width, int height,
            Opt... extra)
            throws Exception {
        Opt[] opts = new Opt[4 + extra.length];
        opts[0] = Opt.string("prompt", "a lighthouse at dusk");
        opts[1] = Opt.integer("steps", 2);
        opts[2] = Opt.integer("seed", seed);
        opts[3] = Opt.string("sampler", "euler");
        System.arraycopy(extra, 0, opts, 4, extra.length);
        InteractionHandle i = h.discord.slashCommand("imagine", user, opts);
        String name = "image-" + seed + ".png";
        RecordedMessage done = i.awaitOriginalEdit(m -> m.attachment(name).isPresent(), WAIT);
        RecordedAttachment png = done.attachment(name).orElseThrow();
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png.bytes()));
        assertEquals(width, img.getWidth());
        assertEquals(height, img.getHeight());
        String params = Png.readText(png.bytes()).get("parameters");
        assertTrue(params.contains("Size: " + width + "x" + height), params);
        assertTrue(done.content().contains(width + "x" + height), done.content());
        return done;
    }
}
