package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.bot.fakediscord.RecordedAttachment;
import org.diffusionbot.bot.fakediscord.RecordedCallback;
import org.diffusionbot.bot.fakediscord.RecordedMessage;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.worker.engine.lora.AddonCatalog;
import org.diffusionbot.worker.engine.lora.ModelFolder;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.runtime.DiffusionGenerator;
import org.diffusionbot.worker.runtime.WorkerRuntime;
import org.junit.jupiter.api.Test;

/**
 * Add-ons end to end with the real diffusion engine (the tiny reference model on the CPU) through the fake Discord:
 * the worker's embeddings reach {@code /loras} through its heartbeats, an {@code /imagine} whose prompt names one gets
 * an image whose parameters name it ({@code TI hashes}), and a LoRA no worker announces is refused before anything is
 * charged.
 */
class TinyModelAddonsIT {
    static final Path TINY = Path.of("../worker/src/test/resources/reference/tiny-sd15/model");
    static final Path EMBEDDINGS = Path.of("../worker/src/test/resources/reference/lora/embeddings");
    static final Path LORAS = Path.of("../worker/src/test/resources/reference/lora/loras");
    static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void anEmbeddingNamedInThePromptIsUsedAndAnUnannouncedLoraIsRefused() throws Exception {
        try (BotHarness h = new BotHarness(50, 2)) {
            StableDiffusionPipeline p = ModelLoader.load(TINY, DataType.FLOAT32, Device.cpu());
            p.useAddons(LORAS, EMBEDDINGS, w -> { });
            WorkerRuntime w = h.startWorker("tiny-addons", new DiffusionGenerator(p), 4);
            AddonCatalog catalog = new AddonCatalog(new ModelFolder(LORAS, "LoRA"), new ModelFolder(EMBEDDINGS, "embedding"));
            w.announce(catalog::loras, catalog::embeddings);
            FakeUser ann = h.discord.createUser("ann");
            String listed = "";
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (!listed.contains("tinystyle")) {
                assertTrue(System.nanoTime() < deadline, "the worker's embeddings never reached /loras: " + listed);
                Thread.sleep(200);
                InteractionHandle l = h.discord.slashCommand("loras", ann);
                l.awaitCallback(WAIT);
                listed = l.awaitOriginalEdit(m -> true, WAIT).content();
            }
            assertTrue(listed.contains("**Embeddings**\n• `tinyneg` · any model family\n• `tinystyle` · any model family"),
                    listed);

            InteractionHandle i = h.discord.slashCommand("imagine", ann, Opt.string("prompt", "a cat, TinyStyle"),
                    Opt.string("negative", "tinyneg, blurry"), Opt.integer("width", 64), Opt.integer("height", 64),
                    Opt.integer("steps", 4), Opt.integer("seed", 5), Opt.string("sampler", "euler"));
            RecordedMessage done = i.awaitOriginalEdit(m -> m.attachment("image-5.png").isPresent(), WAIT);
            RecordedAttachment png = done.attachment("image-5.png").orElseThrow();
            String params = Png.readText(png.bytes()).get("parameters");
            ModelFolder folder = new ModelFolder(EMBEDDINGS, "embedding");
            assertTrue(params.endsWith(", TI hashes: \"tinyneg: " + folder.embeddingHash(EMBEDDINGS.resolve(
                    "tinyneg.safetensors")) + ", tinystyle: " + folder.embeddingHash(EMBEDDINGS.resolve(
                    "tinystyle.safetensors")) + "\""), params);

            assertTrue(listed.contains("**LoRAs**\n• `sd15_kohya` · SD 1.x\n• `sd15_locon` · SD 1.x\n• `sd15_peft` · ")
                    && listed.contains("\n• `sdxl_kohya` · SDXL\n"), listed);

            FakeUser cy = h.discord.createUser("cy");
            InteractionHandle withLora = h.discord.slashCommand("imagine", cy, Opt.string("prompt",
                    "a cat <lora:SD15_Kohya:0.6>"), Opt.string("negative", "<lora:sd15_peft:-0.4>"),
                    Opt.integer("width", 64), Opt.integer("height", 64), Opt.integer("steps", 4), Opt.integer("seed", 6),
                    Opt.string("sampler", "euler"));
            RecordedAttachment loraPng = withLora.awaitOriginalEdit(m -> m.attachment("image-6.png").isPresent(), WAIT)
                    .attachment("image-6.png").orElseThrow();
            String loraParams = Png.readText(loraPng.bytes()).get("parameters");
            assertTrue(loraParams.startsWith("a cat <lora:SD15_Kohya:0.6>\nNegative prompt: <lora:sd15_peft:-0.4>\n"),
                    loraParams);
            assertTrue(loraParams.matches("(?s).*, Lora hashes: \"sd15_kohya: [0-9a-f]{12}, sd15_peft: [0-9a-f]{12}\".*"),
                    loraParams);

            FakeUser bo = h.discord.createUser("bo");
            InteractionHandle lora = h.discord.slashCommand("imagine", bo, Opt.string("prompt",
                    "a cat <lora:sd15_kohay:1>"));
            RecordedCallback cb = lora.awaitCallback(WAIT);
            assertTrue(cb.isEphemeral());
            assertEquals("❌ there is no LoRA `sd15_kohay` for `" + h.model + "`; closest: `sd15_kohya`. Nothing was"
                    + " charged.", cb.content());
            assertTrue(h.bot.store().recentJobs(bo.idLong(), 5).isEmpty());
            assertEquals(0, h.bot.store().quota(bo.idLong(), new QuotaPolicy(50, 2)).usedToday());
        }
    }
}
