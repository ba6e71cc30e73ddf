package org.diffusionbot.worker.engine.loaders;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.SafetensorsFile;
import org.diffusionbot.worker.engine.io.SafetensorsWriter;
import org.diffusionbot.worker.engine.io.TensorView;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.diffusionbot.worker.engine.models.AutoencoderKL;
import org.diffusionbot.worker.engine.models.ReferenceData;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;

/** Loading the diffusers folder layout, including old VAE names and every validation failure. */
class DiffusersLoaderTest {
    @TempDir
    Path dir;

    @Test
    void loadsThePipelineFolder() {
        try (StableDiffusionModels models = DiffusersLoader.loadPipeline(ReferenceData.modelDir(), DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            ReferenceData.assertClose(ReferenceData.load(m, "text0.last_hidden_state"),
                    models.textEncoder().encode(m, ReferenceData.load(m, "text0.ids")), "text0");
            ReferenceData.assertClose(ReferenceData.load(m, "unet1.out"), models.unet().forward(m,
                    ReferenceData.load(m, "unet1.sample"), ReferenceData.load(m, "unet1.timestep"),
                    ReferenceData.load(m, "unet1.context")), "unet1");
            ReferenceData.assertClose(ReferenceData.load(m, "vae_decode.image"),
                    models.vae().decode(m, ReferenceData.load(m, "vae_decode.latents")), "vae decode");
        }
    }

    /** Copies the tiny VAE into {@code dir/vae} with renamed / changed tensors. */
    private Path vaeCopy(String fileName, UnaryOperator<SafetensorsWriter> extra, UnaryOperator<String> rename,
            String drop) throws IOException {
        Path vae = Files.createDirectories(dir.resolve("vae"));
        Files.copy(ReferenceData.modelDir().resolve("vae/config.json"), vae.resolve("config.json"));
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(ReferenceData.modelDir().resolve("vae/diffusion_pytorch_model.safetensors"))) {
            for (TensorView v : f.tensors().values()) {
                if (!v.name().equals(drop)) {
                    w.add(rename.apply(v.name()), v);
                }
            }
        }
        extra.apply(w).write(vae.resolve(fileName));
        return vae;
    }

    @Test
    void acceptsLegacyVaeAttentionNamesAndFp16FileName() throws IOException {
        Path vae = vaeCopy("diffusion_pytorch_model.fp16.safetensors", w -> w,
                n -> n.replace("attentions.0.to_q.", "attentions.0.query.").replace("attentions.0.to_k.", "attentions.0.key.")
                        .replace("attentions.0.to_v.", "attentions.0.value.").replace("attentions.0.to_out.0.", "attentions.0.proj_attn."),
                null);
        try (SafetensorsFile f = SafetensorsFile.open(vae.resolve("diffusion_pytorch_model.fp16.safetensors"))) {
            assertTrue(f.tensors().containsKey("decoder.mid_block.attentions.0.proj_attn.weight"));
        }
        try (NDManager models = NDManager.newBaseManager(Device.cpu()); NDManager m = NDManager.newBaseManager(Device.cpu())) {
            AutoencoderKL model = DiffusersLoader.loadVae(vae, models, DataType.FLOAT32, Device.cpu());
            ReferenceData.assertClose(ReferenceData.load(m, "vae_decode.image"),
                    model.decode(m, ReferenceData.load(m, "vae_decode.latents")), "legacy-named vae decode");
        }
        assertEquals("decoder.mid_block.attentions.0.to_out.0.bias",
                DiffusersLoader.renameLegacyVaeAttention("decoder.mid_block.attentions.0.proj_attn.bias"));
        assertEquals("decoder.up_blocks.0.resnets.0.query.bias",
                DiffusersLoader.renameLegacyVaeAttention("decoder.up_blocks.0.resnets.0.query.bias"));
    }

    @Test
    void reportsMissingUnexpectedAndMismatchedTensors() throws IOException {
        Path vae = vaeCopy("diffusion_pytorch_model.safetensors",
                w -> w.addF32("decoder.extra.weight", new long[] {1}, 1f)
                        .addF32("encoder.conv_in.bias", new long[] {3}, 1f, 2f, 3f),
                UnaryOperator.identity(), "decoder.conv_out.weight");
        try (NDManager models = NDManager.newBaseManager(Device.cpu())) {
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> DiffusersLoader.loadVae(vae, models, DataType.FLOAT32, Device.cpu()));
            String msg = e.getMessage();
            assertTrue(msg.contains("diffusion_pytorch_model.safetensors"), msg);
            assertTrue(msg.contains("missing: decoder.conv_out.weight"), msg);
            assertTrue(msg.contains("unexpected: decoder.extra.weight"), msg);
            assertTrue(msg.contains("encoder.conv_in.bias (expected (16), found (3))"), msg);
            assertEquals(0, models.getManagedArrays().size(), "a failed load frees its parameters");
        }
    }

    @Test
    void refusesPickledWeightsAndMissingFiles() throws IOException {
        Path unet = Files.createDirectories(dir.resolve("unet"));
        Files.copy(ReferenceData.modelDir().resolve("unet/config.json"), unet.resolve("config.json"));
        try (NDManager models = NDManager.newBaseManager(Device.cpu())) {
            ModelFormatException none = assertThrows(ModelFormatException.class,
                    () -> DiffusersLoader.loadUNet(unet, models, DataType.FLOAT32, Device.cpu()));
            assertTrue(none.getMessage().contains("no weights file"), none.getMessage());
            Files.write(unet.resolve("diffusion_pytorch_model.bin"), new byte[] {'P', 'K', 3, 4});
            ModelFormatException pickled = assertThrows(ModelFormatException.class,
                    () -> DiffusersLoader.loadUNet(unet, models, DataType.FLOAT32, Device.cpu()));
            assertTrue(pickled.getMessage().contains(".safetensors"), pickled.getMessage());
        }
        assertThrows(ModelFormatException.class, () -> DiffusersLoader.loadPipeline(dir, DataType.FLOAT32, Device.cpu()));
    }

    @Test
    void textEncoderMemoryIsFlatOverCalls() {
        try (StableDiffusionModels models = DiffusersLoader.loadPipeline(ReferenceData.modelDir(), DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray ids = ReferenceData.load(m, "text1.ids");
            models.textEncoder().encode(m, ids, 2).close();
            int held = countAll(models.manager());
            assertTrue(held > 50, "parameters are counted through the loader's sub-managers: " + held);
            for (int i = 0; i < 5; i++) {
                models.textEncoder().encode(m, ids, 1 + i % 2).close();
            }
            assertEquals(held, countAll(models.manager()));
            assertEquals(1, m.getManagedArrays().size(), "only the input remains with the caller");
        }
    }

    private static int countAll(NDManager m) {
        return m.getManagedArrays().size();
    }
}
