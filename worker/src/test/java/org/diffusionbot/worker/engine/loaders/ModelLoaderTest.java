package org.diffusionbot.worker.engine.loaders;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.SafetensorsWriter;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.ClipTextConfig;
import org.diffusionbot.worker.engine.models.ClipTextEncoder;
import org.diffusionbot.worker.engine.models.UNetConfig;
import org.diffusionbot.worker.engine.models.VaeConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.TinySdxl;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;

/** Layout detection, architecture inference and refusals of {@link ModelLoader}. */
class ModelLoaderTest {
    @TempDir
    Path tmp;

    @Test
    void inferredSingleFileConfigsEqualTheDiffusersConfigs() {
        Path m = TinyModels.folderPath();
        try (Weights w = Weights.open(TinyModels.singleFilePath())) {
            CheckpointArchitecture.Inferred a = CheckpointArchitecture.infer(w, null);
            assertEquals(CheckpointArchitecture.Family.SD1, a.family());
            assertEquals(withoutSampleSize(UNetConfig.load(m.resolve("unet/config.json"))), withoutSampleSize(a.unet()));
            assertEquals(VaeConfig.load(m.resolve("vae/config.json")), a.vae());
            assertEquals(ClipTextConfig.load(m.resolve("text_encoder/config.json")), a.text());
        }
        Path xl = TinySdxl.folderPath();
        try (Weights w = Weights.open(TinySdxl.singleFilePath())) {
            CheckpointArchitecture.Inferred a = CheckpointArchitecture.infer(w, null);
            assertEquals(CheckpointArchitecture.Family.SDXL, a.family());
            assertEquals(withoutSampleSize(UNetConfig.load(xl.resolve("unet/config.json"))), withoutSampleSize(a.unet()));
            assertEquals(VaeConfig.load(xl.resolve("vae/config.json")), a.vae());
            assertEquals(ClipTextConfig.load(xl.resolve("text_encoder/config.json")), a.text());
            assertEquals(ClipTextConfig.load(xl.resolve("text_encoder_2/config.json")), a.text2());
        }
    }

    @Test
    void aSingleFileAndItsDiffusersFolderGiveTheSameNamedTensorsForTheOneAssemblyPath() {
        for (Path[] pair : List.of(new Path[] {TinyModels.singleFilePath(), TinyModels.folderPath()},
                new Path[] {TinySdxl.singleFilePath(), TinySdxl.folderPath()})) {
            try (Weights all = Weights.open(pair[0]); ModelParts folder = DiffusersLoader.parts(pair[1], true)) {
                ModelParts file = SingleFileCheckpoint.parts(all, CheckpointArchitecture.infer(all, null), true);
                assertEquals(folder.text2() == null, file.text2() == null);
                List<ModelParts.Part<?>> a = new java.util.ArrayList<>(List.of(file.text(), file.unet(), file.vae()));
                List<ModelParts.Part<?>> b = new java.util.ArrayList<>(List.of(folder.text(), folder.unet(), folder.vae()));
                if (file.text2() != null) {
                    a.add(file.text2());
                    b.add(folder.text2());
                }
                for (int k = 0; k < a.size(); k++) {
                    assertEquals(shapes(b.get(k).weights()), shapes(a.get(k).weights()), pair[0] + " part " + k);
                }
                assertEquals(folder.vae().config(), file.vae().config());
            }
        }
    }

    private static java.util.Map<String, String> shapes(Weights w) {
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        for (String n : w.names()) {
            if (!n.endsWith("position_ids")) {
                out.put(n, w.get(n).shape().toString());
            }
        }
        return out;
    }

    /** Single files do not say the sample size; everything else must be equal. */
    private static String withoutSampleSize(UNetConfig c) {
        return c.toString().replaceAll("sampleSize=\\d+", "sampleSize=?");
    }

    @Test
    void picklesAreRefusedWithAHint() throws Exception {
        Path ckpt = Files.write(tmp.resolve("model.ckpt"), new byte[] {(byte) 0x80, 2, 'x'});
        String msg = assertThrows(ModelFormatException.class,
                () -> ModelLoader.load(ckpt, DataType.FLOAT32, Device.cpu())).getMessage();
        assertTrue(msg.contains("pickled PyTorch checkpoints (.ckpt) are refused") && msg.contains("convert it to .safetensors"), msg);
        Path disguised = Files.write(tmp.resolve("model.safetensors"), new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0, 0});
        msg = assertThrows(ModelFormatException.class,
                () -> ModelLoader.load(disguised, DataType.FLOAT32, Device.cpu())).getMessage();
        assertTrue(msg.contains("refused"), msg);
    }

    @Test
    void sdxlRefinerIsRefusedAndAnIncompleteSdxlFileListsWhatIsMissing() throws Exception {
        Path refiner = new SafetensorsWriter()
                .addF32("conditioner.embedders.0.model.ln_final.weight", new long[] {1}, 1f)
                .addF32("model.diffusion_model.input_blocks.0.0.weight", new long[] {1}, 1f)
                .addF32("first_stage_model.decoder.conv_in.weight", new long[] {1}, 1f)
                .write(tmp.resolve("refiner.safetensors"));
        String msg = assertThrows(ModelFormatException.class,
                () -> ModelLoader.load(refiner, DataType.FLOAT32, Device.cpu())).getMessage();
        assertTrue(msg.contains("this is an SDXL refiner") && msg.contains("not supported"), msg);
        Path partial = new SafetensorsWriter()
                .addF32("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight", new long[] {1}, 1f)
                .addF32("model.diffusion_model.input_blocks.0.0.weight", new long[] {1}, 1f)
                .write(tmp.resolve("sdxl.safetensors"));
        msg = assertThrows(ModelFormatException.class, () -> ModelLoader.load(partial, DataType.FLOAT32, Device.cpu()))
                .getMessage();
        assertTrue(msg.contains("missing VAE (first_stage_model.*), text encoder 2 (conditioner.embedders.1.model.*)"), msg);
        Path folder = tmp.resolve("refiner-folder");
        Files.createDirectories(folder.resolve("text_encoder_2"));
        Files.createDirectories(folder.resolve("tokenizer_2"));
        Files.writeString(folder.resolve("model_index.json"), "{\"text_encoder\": [null, null]}");
        msg = assertThrows(ModelFormatException.class, () -> ModelLoader.load(folder, DataType.FLOAT32, Device.cpu()))
                .getMessage();
        assertTrue(msg.contains("this is an SDXL refiner"), msg);
    }

    @Test
    void notAStableDiffusionFileAndMissingTensorsAreListed() {
        Path other = new SafetensorsWriter().addF32("encoder.weight", new long[] {1}, 1f).write(tmp.resolve("x.safetensors"));
        String msg = assertThrows(ModelFormatException.class, () -> ModelLoader.load(other, DataType.FLOAT32, Device.cpu()))
                .getMessage();
        assertTrue(msg.contains("not a complete Stable Diffusion single-file checkpoint; missing UNet"), msg);

        SafetensorsWriter w = new SafetensorsWriter();
        try (Weights all = Weights.open(TinyModels.singleFilePath())) {
            for (String n : all.names()) {
                if (!n.equals("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_v.weight")
                        && !n.equals("first_stage_model.decoder.conv_out.bias")) {
                    w.add(n, all.get(n));
                }
            }
        }
        Path broken = w.write(tmp.resolve("broken.safetensors"));
        msg = assertThrows(ModelFormatException.class, () -> ModelLoader.load(broken, DataType.FLOAT32, Device.cpu()))
                .getMessage();
        assertTrue(msg.contains("missing: down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v.weight"), msg);
        assertTrue(msg.contains("broken.safetensors"), msg);
    }

    @Test
    void missingPathAndFolderWithoutModelIndex() {
        assertTrue(assertThrows(ModelFormatException.class, () -> ModelLoader.load(tmp.resolve("nope"), DataType.FLOAT32,
                Device.cpu())).getMessage().contains("no such file"));
        assertTrue(assertThrows(ModelFormatException.class, () -> ModelLoader.load(tmp, DataType.FLOAT32,
                Device.cpu())).getMessage().contains("model_index.json"));
    }

    /**
     * SD 2.x single files: the tiny SD 1.x weights renamed to OpenCLIP names (fused q/k/v, one extra
     * last layer that diffusers drops) load as SD2 and encode like the transformers-named weights.
     */
    @Test
    void sd2OpenClipNamingLoads() {
        SafetensorsWriter w = new SafetensorsWriter();
        String t = "cond_stage_model.transformer.text_model.";
        String o = "cond_stage_model.model.";
        try (Weights all = Weights.open(TinyModels.singleFilePath())) {
            for (String n : all.names()) {
                if (!n.startsWith("cond_stage_model.")) {
                    w.add(n, all.get(n));
                }
            }
            w.add(o + "token_embedding.weight", all.get(t + "embeddings.token_embedding.weight"));
            w.add(o + "positional_embedding", all.get(t + "embeddings.position_embedding.weight"));
            w.add(o + "ln_final.weight", all.get(t + "final_layer_norm.weight"));
            w.add(o + "ln_final.bias", all.get(t + "final_layer_norm.bias"));
            w.add(o + "text_projection", all.get(t + "final_layer_norm.weight"));
            for (int layer = 0; layer <= 4; layer++) {
                String src = t + "encoder.layers." + Math.min(layer, 3) + ".";
                String dst = o + "transformer.resblocks." + layer + ".";
                for (String kind : List.of("weight", "bias")) {
                    TensorView q = all.get(src + "self_attn.q_proj." + kind);
                    byte[] fused = concat(q, all.get(src + "self_attn.k_proj." + kind), all.get(src + "self_attn.v_proj." + kind));
                    long[] shape = q.shape().getShape().clone();
                    shape[0] *= 3;
                    w.add(dst + "attn.in_proj_" + kind, q.dtype().name(), shape, fused);
                    w.add(dst + "attn.out_proj." + kind, all.get(src + "self_attn.out_proj." + kind));
                    w.add(dst + "ln_1." + kind, all.get(src + "layer_norm1." + kind));
                    w.add(dst + "ln_2." + kind, all.get(src + "layer_norm2." + kind));
                    w.add(dst + "mlp.c_fc." + kind, all.get(src + "mlp.fc1." + kind));
                    w.add(dst + "mlp.c_proj." + kind, all.get(src + "mlp.fc2." + kind));
                }
            }
        }
        Path f = w.write(tmp.resolve("sd2.safetensors"));
        try (StableDiffusionPipeline p = ModelLoader.load(f, DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            assertTrue(p.description().endsWith("(SD2)"), p.description());
            assertEquals(0, p.tokenizer().padId());
            ClipTextConfig c = p.models().textEncoder().config();
            assertEquals(4, c.numHiddenLayers());
            assertEquals("gelu", c.hiddenAct());
            assertTrue(p.models().unet().config().upcastAttention());
            // same weights, same activation: identical hidden states
            ClipTextConfig gelu = new ClipTextConfig(c.vocabSize(), c.hiddenSize(), c.intermediateSize(), 4,
                    c.numAttentionHeads(), 77, "gelu", 1e-5);
            try (Weights tw = Weights.open(TinyModels.folderPath().resolve("text_encoder/model.safetensors"))) {
                ClipTextEncoder ref = new ClipTextEncoder(gelu, tw.ignoreUnused(n -> n.endsWith("position_ids")), m,
                        DataType.FLOAT32, Device.cpu());
                NDArray ids = m.create(p.tokenizer().encode("frogs on stilts").ids(), new ai.djl.ndarray.types.Shape(1, 77));
                float[] a = p.models().textEncoder().encode(m, ids).toFloatArray();
                float[] b = ref.encode(m, ids).toFloatArray();
                assertTrue(RefData.maxAbsDiff(a, b) < 1e-5);
            }
        }
    }

    private static byte[] concat(TensorView... views) {
        int n = 0;
        for (TensorView v : views) {
            n += (int) v.byteSize();
        }
        ByteBuffer out = ByteBuffer.allocate(n);
        for (TensorView v : views) {
            out.put(v.bytes());
        }
        return out.array();
    }
}
