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
import org.diffusionbot.db.JobState;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.runtime.DiffusionGenerator;
import org.junit.jupiter.api.Test;

/** /imagine end to end with the real diffusion engine: the tiny reference model on the CPU. */
class TinyModelFlowIT {
    static final Path TINY = Path.of("../worker/src/test/resources/reference/tiny-sd15/model");

    @Test
    void realWorkerProducesTheImage() throws Exception {
        try (BotHarness h = new BotHarness(50, 2)) {
            h.startWorker("tiny-worker", new DiffusionGenerator(ModelLoader.load(TINY, DataType.FLOAT32, Device.cpu())), 4);
            FakeUser ann = h.discord.createUser("ann");
            InteractionHandle i = h.discord.slashCommand("imagine", ann, Opt.string("prompt", "frogs on stilts"),
                    Opt.integer("width", 128), Opt.integer("height", 64), Opt.integer("steps", 80),
                    Opt.integer("seed", 102), Opt.string("sampler", "euler"));
            RecordedMessage done = i.awaitOriginalEdit(m -> m.attachment("image-102.png").isPresent(),
                    Duration.ofSeconds(60));
            RecordedAttachment png = done.attachment("image-102.png").orElseThrow();
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(png.bytes()));
            assertEquals(128, img.getWidth());
            assertEquals(64, img.getHeight());
            String params = Png.readText(png.bytes()).get("parameters");
            assertTrue(params.startsWith("frogs on stilts\nSteps: 80, Sampler: Euler, CFG scale: 7, Seed: 102, Size: 128x64"),
                    params);
            assertTrue(i.originalEdits().stream().anyMatch(m -> m.attachment("preview.png").isPresent()),
                    "an x0 preview was shown on the way");
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (h.bot.store().recentJobs(ann.idLong(), 1).get(0).deliveredAt() == null && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(JobState.SUCCEEDED, h.bot.store().recentJobs(ann.idLong(), 1).get(0).state());
            assertEquals(1, h.bot.store().quota(ann.idLong(), new org.diffusionbot.db.QuotaPolicy(50, 2)).usedToday());
        }
    }
}
