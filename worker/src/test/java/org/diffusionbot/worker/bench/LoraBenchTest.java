package org.diffusionbot.worker.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.diffusionbot.common.LoraTags;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.io.SafetensorsFile;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.lora.Lora;
import org.diffusionbot.worker.engine.lora.LoraFamily;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.lora.LoraPatcher;
import org.diffusionbot.worker.engine.lora.LoraTargets;
import org.diffusionbot.worker.engine.lora.ModelFolder;
import org.diffusionbot.worker.engine.lora.PatchableModel;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The LoRA benchmark's files cover every attention and feed-forward weight, and map completely onto the model. */
class LoraBenchTest {
    @TempDir
    Path tmp;

    @Test
    void benchLorasCoverAttentionAndFeedForwardAndMapCompletely() {
        Map<String, Shape> unet = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(TinyModels.folderPath().resolve(
                "unet/diffusion_pytorch_model.safetensors"))) {
            for (TensorView v : f.tensors().values()) {
                unet.put(v.name(), v.shape());
            }
        }
        LoraTargets targets = new LoraTargets(LoraFamily.SD1, Map.of(LoraTargets.Part.UNET, unet));
        long covered = unet.keySet().stream().filter(n -> LoraBench.COVERED.matcher(n).matches()).count();
        assertTrue(covered > 0);
        assertEquals(covered, unet.keySet().stream().filter(n -> n.contains("transformer_blocks")
                && (n.matches(".*attn[12]\\.(to_q|to_k|to_v|to_out\\.0)\\.weight") || n.matches(".*ff\\.net\\.(0\\.proj|2)\\.weight")))
                .count(), "every attention q/k/v/out and feed-forward weight");
        Path file = tmp.resolve("bench_a.safetensors");
        assertEquals(covered, LoraBench.writeLora(targets, 4, 1, file));
        try (Lora lora = Lora.open(file, "bench_a", targets)) {
            assertEquals(covered, lora.modules().size(), "every tensor of the file maps onto the model");
        }
    }

    @Test
    void theCheckComparesTheTwoPatchPathsAndTheRestores() throws Exception {
        try (StableDiffusionPipeline p = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            PatchableModel weights = p.models().patchable();
            LoraBench.writeLora(weights.targets(), 4, 1, tmp.resolve("bench_a.safetensors"));
            try (LoraPatcher patcher = new LoraPatcher(weights, new ModelFolder(tmp, "LoRA"), Device.cpu())) {
                String line = LoraBench.check(p.models().unet().parameters(), patcher,
                        LoraTags.set("<lora:bench_a:0.8>", ""), m);
                // without the native library both legs are DJL's: the same values
                assertEquals("check (OK): native vs DJL patch over 24 weights: max |diff| 0.00, 0 of "
                        + line.replaceAll(".* 0 of (\\d+) values.*", "$1") + " values differ; restored bit for bit on both"
                        + " paths: yes", line);
                assertTrue(patcher.current().isEmpty());
            }
        }
    }

    @Test
    void theBenchSaysWhenTheModelCannotTakeLoras() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = GpuBench.run(new String[] {"--lora-model", TinyModels.folderPath().toString(), "--lora-rank", "4",
            "--lora-jobs", "2", "--lora-steps", "1", "--lora-size", "64"}, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String text = buf.toString(StandardCharsets.UTF_8);
        if (rc == 2) {
            assertTrue(text.contains("cannot patch the model's weights in place"), text);
        } else {
            assertEquals(0, rc, text);
            assertTrue(text.contains("apply + remove one set: best ") && text.contains("alternating two sets"), text);
        }
    }
}
