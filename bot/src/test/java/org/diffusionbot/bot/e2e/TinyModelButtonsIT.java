package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import javax.imageio.ImageIO;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedAttachment;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.runtime.DiffusionGenerator;
import org.junit.jupiter.api.Test;

/** V1 and U1 under a real image of the tiny reference model: img2img on the real engine, 64x64 then 128x128. */
class TinyModelButtonsIT {
    static final Duration WAIT = Duration.ofSeconds(90);

    @Test
    void variationAndUpscaleRunOnTheRealEngine() throws Exception {
        try (BotHarness h = new BotHarness(50, 2)) {
            h.startWorker("tiny-ux-worker", new DiffusionGenerator(ModelLoader.load(TinyModelFlowIT.TINY,
                    DataType.FLOAT32, Device.cpu())), 2);
            FakeUser ann = h.discord.createUser("ann");
            InteractionHandle i = h.discord.slashCommand("imagine", ann, Opt.string("prompt", "a tiny lighthouse"),
                    Opt.integer("width", 64), Opt.integer("height", 64), Opt.integer("steps", 10),
                    Opt.integer("seed", 7), Opt.string("sampler", "euler"));
            RecordedMessage done = i.awaitOriginalEdit(m -> m.attachment("image-7.png").isPresent(), WAIT);
            UUID job = h.bot.store().recentJobs(ann.idLong(), 1).get(0).id();

            InteractionHandle v = h.discord.buttonClick(done.id(), "var:" + job + ":0", ann);
            RecordedMessage varied = v.awaitOriginalEdit(m -> m.attachments().stream()
                    .anyMatch(a -> a.filename().startsWith("image-")), WAIT);
            RecordedAttachment vImg = varied.attachments().get(0);
            assertEquals(List.of(64, 64), size(vImg.bytes()));
            String vParams = Png.readText(vImg.bytes()).get("parameters");
            assertTrue(vParams.contains("Denoising strength: 0.6"), vParams);

            InteractionHandle u = h.discord.buttonClick(done.id(), "up:" + job + ":0", ann);
            RecordedMessage upscaled = u.awaitOriginalEdit(m -> m.attachment("image-7.png").isPresent(), WAIT);
            byte[] png = upscaled.attachment("image-7.png").orElseThrow().bytes();
            assertEquals(List.of(128, 128), size(png));
            String uParams = Png.readText(png).get("parameters");
            assertTrue(uParams.contains("Size: 128x128") && uParams.contains("Denoising strength: 0.35"), uParams);

            List<JobRecord> jobs = h.bot.store().recentJobs(ann.idLong(), 5);
            assertEquals(List.of("upscale", "variation", "imagine"), jobs.stream().map(JobRecord::kind).toList());
        }
    }

    private static List<Integer> size(byte[] png) throws Exception {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        return List.of(img.getWidth(), img.getHeight());
    }
}
