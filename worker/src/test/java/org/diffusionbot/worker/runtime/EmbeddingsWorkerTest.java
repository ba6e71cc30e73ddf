package org.diffusionbot.worker.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.common.messages.JobFailure;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.worker.WorkerConfig;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.lora.ModelFolder;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Textual-inversion embeddings in the worker: {@code EMBEDDINGS_DIR} (default {@code MODELS_DIR/embeddings}), a job
 * whose prompt names one gets it and its PNG fields say so ({@code TI hashes}), and a job naming a LoRA on a worker
 * that cannot apply LoRAs fails with the reason instead of running without it.
 */
class EmbeddingsWorkerTest {
    @TempDir
    Path tmp;


    static Path embeddings() throws URISyntaxException {
        return Path.of(EmbeddingsWorkerTest.class.getResource("/reference/lora/embeddings").toURI());
    }

    private static JobRequest job(String prompt, String negative) {
        return new JobRequest(UUID.randomUUID(), "tiny", prompt, negative, 64, 64, 2, 7.0, Sampler.EULER, 3, 1, 1, null,
                null, 0, Instant.now());
    }

    @Test
    void embeddingsDirIsReadFromTheEnvironmentOrDefaultsUnderModelsDir() throws Exception {
        String model = TinyModels.folderPath().toString();
        assertNull(WorkerConfig.fromEnv(Env.of(Map.of("MODEL_PATH", model, "MODELS_DIR", tmp.toString())))
                .embeddingsDir(), "no folder: none");
        Path dflt = Files.createDirectories(tmp.resolve("embeddings"));
        assertEquals(dflt, WorkerConfig.fromEnv(Env.of(Map.of("MODEL_PATH", model, "MODELS_DIR", tmp.toString())))
                .embeddingsDir());
        assertEquals(embeddings(), WorkerConfig.fromEnv(Env.of(Map.of("MODEL_PATH", model, "EMBEDDINGS_DIR",
                embeddings().toString()))).embeddingsDir());
        ConfigException e = assertThrows(ConfigException.class, () -> WorkerConfig.fromEnv(Env.of(Map.of(
                "MODEL_PATH", model, "EMBEDDINGS_DIR", tmp.resolve("nope").toString()))));
        assertTrue(e.getMessage().startsWith("EMBEDDINGS_DIR points at "), e.getMessage());
    }

    @Test
    void aJobNamingAnEmbeddingUsesItAndSaysSoAndALoraFailsWithTheReason() throws Exception {
        try (StableDiffusionPipeline p = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu())) {
            DiffusionGenerator plain = new DiffusionGenerator(p, PipelineCallbacks.PreviewMode.LATENT_RGB_X2, false);
            JobRequest styled = job("a cat, tinystyle", "tinyneg");
            byte[] before = ((JobOutcome.Succeeded) plain.generate(plain.prepareAll(List.of(styled)), ImageGenerator.ProgressListener.NONE, id -> false).get(0))
                    .images().get(0).rgb();
            p.useAddons(null, embeddings(), w -> { });
            List<JobOutcome> out = plain.generate(plain.prepareAll(List.of(styled, job("a cat", ""))), ImageGenerator.ProgressListener.NONE, id -> false);
            JobOutcome.Succeeded s = assertInstanceOf(JobOutcome.Succeeded.class, out.get(0));
            ModelFolder folder = new ModelFolder(embeddings(), "embedding");
            assertEquals(Map.of("TI hashes", "tinyneg: " + folder.embeddingHash(embeddings().resolve(
                    "tinyneg.safetensors")) + ", tinystyle: " + folder.embeddingHash(embeddings().resolve(
                    "tinystyle.safetensors"))), s.infotext());
            assertTrue(!java.util.Arrays.equals(before, s.images().get(0).rgb()), "the embeddings change the image");
            assertEquals(Map.of(), ((JobOutcome.Succeeded) out.get(1)).infotext());
            JobOutcome.Failed f = assertInstanceOf(JobOutcome.Failed.class,
                    plain.generate(plain.prepareAll(List.of(job("a <lora:style:1> cat", ""))), ImageGenerator.ProgressListener.NONE, id -> false).get(0));
            assertEquals(JobFailure.Code.INVALID_REQUEST, f.code());
            assertTrue(f.message().contains("no LoRA folder is set"), f.message());
        }
    }
}
