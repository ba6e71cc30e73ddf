package org.diffusionbot.worker.engine.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.util.List;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.PipelineOptions;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;

/**
 * The LoRA cache size comes in with the pipeline's options ({@link PipelineOptions#loraCacheMb()}, {@code
 * SD_LORA_CACHE_MB} read once by {@link PipelineOptions#fromSettings()}) and the pipeline's patcher keeps to it.
 */
class LoraCacheOptionsTest {
    private static LoraPatcher patcherOf(StableDiffusionPipeline p) {
        p.useAddons(LoraFixtures.dir().resolve("loras"), null, w -> { });
        LoraPatcher patcher = p.addons().loras();
        assertNull(p.addons().prepare(List.<String[]>of(new String[] {"a cat <lora:sd15_kohya:1>", ""})));
        return patcher;
    }

    private static StableDiffusionPipeline load(PipelineOptions options) {
        return ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu(),
                new ModelLoader.Options(null, null, null, options));
    }

    @Test
    void thePipelinesPatcherHonoursTheCacheSizeOfItsOptions() {
        try (StableDiffusionPipeline p = load(PipelineOptions.DEFAULTS.withLoraCacheMb(0))) {
            LoraPatcher patcher = patcherOf(p);
            assertEquals(0, patcher.cacheBytes());
            assertEquals(0, patcher.uploadedBytes(), "no cache: the factors are read from the file at each switch");
            assertEquals(1, patcher.switches());
        }
        try (StableDiffusionPipeline p = load(PipelineOptions.DEFAULTS.withLoraCacheMb(1))) {
            LoraPatcher patcher = patcherOf(p);
            assertEquals(1L << 20, patcher.cacheBytes());
            long held = patcher.uploadedBytes();
            assertTrue(held > 0 && held <= 1L << 20, "the tiny LoRA's factors stay within 1 MiB: " + held);
        }
        try (StableDiffusionPipeline p = load(PipelineOptions.DEFAULTS)) {
            assertEquals((long) LoraPatcher.CACHE_MB << 20, patcherOf(p).cacheBytes());
        }
    }
}
