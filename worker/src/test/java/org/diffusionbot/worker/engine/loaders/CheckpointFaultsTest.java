package org.diffusionbot.worker.engine.loaders;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.TinySdxl;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.SafetensorsWriter;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.models.AutoencoderKL;
import org.diffusionbot.worker.engine.models.ReferenceData;
import org.diffusionbot.worker.engine.pipeline.GenerationRequest;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.RequestResult;
import org.diffusionbot.worker.engine.pipeline.RgbImage;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.pipeline.StepView;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig.PredictionType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checkpoint faults users hit (issue 12), each kind a case: inpainting and instruct-pix2pix UNets
 * refused at load and by the start-up check, prediction-type markers of single files, a separate VAE.
 */
class CheckpointFaultsTest {
    private static final String CONV_IN = "model.diffusion_model.input_blocks.0.0.weight";

    @TempDir
    Path tmp;

    /** The tiny SD 1.5 single file with some tensors replaced or added, and metadata. */
    private Path singleFile(String name, Map<String, String> metadata, Consumer<SafetensorsWriter> extra,
            String... without) {
        SafetensorsWriter w = new SafetensorsWriter();
        metadata.forEach(w::metadata);
        try (Weights all = Weights.open(TinyModels.singleFilePath())) {
            for (String n : all.names()) {
                if (!Arrays.asList(without).contains(n)) {
                    w.add(n, all.get(n));
                }
            }
        }
        extra.accept(w);
        return w.write(tmp.resolve(name));
    }

    /** A conv_in taking {@code channels} input channels (zeros), as inpainting (9) and pix2pix (8) UNets have. */
    private Path unetWithInputChannels(int channels) {
        return singleFile("in" + channels + ".safetensors", Map.of(), w -> {
            try (Weights all = Weights.open(TinyModels.singleFilePath())) {
                TensorView v = all.get(CONV_IN);
                long[] shape = v.shape().getShape().clone();
                shape[1] = channels;
                w.add(CONV_IN, v.dtype().name(), shape, new byte[(int) (v.byteSize() / 4 * channels)]);
            }
        }, CONV_IN);
    }

    @Test
    void inpaintingAndPix2PixSingleFilesAreRefusedAtLoadAndByTheCheck() {
        for (int channels : new int[] {9, 8}) {
            Path f = unetWithInputChannels(channels);
            String what = channels == 9 ? "an inpainting model (9-channel UNet input" : "an instruct-pix2pix model (8-channel";
            ModelFormatException checked = assertThrows(ModelFormatException.class,
                    () -> ModelLoader.check(f, ModelLoader.Options.DEFAULTS));
            assertTrue(checked.getMessage().startsWith(f + ": this is " + what), checked.getMessage());
            assertFalse(checked.getMessage().contains("\n"));
            ModelFormatException loaded = assertThrows(ModelFormatException.class,
                    () -> ModelLoader.load(f, DataType.FLOAT32, Device.cpu()));
            assertEquals(checked.getMessage(), loaded.getMessage());
        }
        assertEquals("SD1 single file",
                ModelLoader.check(TinyModels.singleFilePath(), ModelLoader.Options.DEFAULTS).summary());
    }

    @Test
    void anInpaintingDiffusersFolderIsRefusedBeforeItsWeightsAreRead() throws IOException {
        Path dir = copyTree(TinyModels.folderPath(), tmp.resolve("inpaint"));
        Path cfg = dir.resolve("unet/config.json");
        String json = Files.readString(cfg);
        assertTrue(json.contains("\"in_channels\": 4"), json);
        Files.writeString(cfg, json.replace("\"in_channels\": 4", "\"in_channels\": 9"));
        Files.delete(dir.resolve("unet/diffusion_pytorch_model.safetensors")); // never read
        for (var call : List.<org.junit.jupiter.api.function.Executable>of(
                () -> ModelLoader.check(dir, ModelLoader.Options.DEFAULTS),
                () -> ModelLoader.load(dir, DataType.FLOAT32, Device.cpu()))) {
            ModelFormatException e = assertThrows(ModelFormatException.class, call);
            assertTrue(e.getMessage().startsWith(dir + ": this is an inpainting model"), e.getMessage());
        }
        assertEquals("SD diffusers folder",
                ModelLoader.check(TinyModels.folderPath(), ModelLoader.Options.DEFAULTS).summary());
    }

    @Test
    void theCheckDescribesEachModelAsTheLoadedPipelineWillWithoutLoadingIt() {
        // what a worker announces for a model it has not loaded: the same family and native size as once loaded
        record Case(Path path, org.diffusionbot.common.ModelFamily family) { }
        for (Case c : List.of(new Case(TinyModels.singleFilePath(), org.diffusionbot.common.ModelFamily.SD1),
                new Case(TinyModels.folderPath(), org.diffusionbot.common.ModelFamily.SD1),
                new Case(TinySdxl.singleFilePath(), org.diffusionbot.common.ModelFamily.SDXL),
                new Case(TinySdxl.folderPath(), org.diffusionbot.common.ModelFamily.SDXL))) {
            ModelLoader.Checked checked = ModelLoader.check(c.path(), ModelLoader.Options.DEFAULTS);
            assertEquals(c.family(), checked.family(), c.path().toString());
            try (StableDiffusionPipeline p = ModelLoader.load(c.path(), DataType.FLOAT32, Device.cpu())) {
                assertEquals(p.family(), checked.family(), c.path().toString());
                assertEquals(p.nativeSize(), checked.nativeSize(), c.path().toString());
            }
        }
    }

    private static Path copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t);
                }
            }
        }
        return to;
    }

    private static GenerationRequest request() {
        return new GenerationRequest("a lighthouse at dusk", "", List.of(7L), 7.0,
                org.diffusionbot.common.GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP, 64, 64, 4, Sampler.EULER, null, null);
    }

    /** Runs the request; returns the image and puts the final latents (request 0, image 0) in {@code latents}. */
    private static RgbImage run(StableDiffusionPipeline p, float[][] latents) {
        List<RequestResult> r = p.generate(List.of(request()), new PipelineCallbacks() {
            @Override
            public void onStep(StepView s) {
                latents[0] = s.latents(0, 0);
            }
        });
        return assertInstanceOf(RequestResult.Success.class, r.get(0)).images().get(0);
    }

    @Test
    void aVPredMarkerOrModelSpecMetadataGivesTheVPredictionImage() {
        float[][] lat = new float[1][];
        RgbImage eps;
        RgbImage v;
        try (StableDiffusionPipeline plain = ModelLoader.load(TinyModels.singleFilePath(), DataType.FLOAT32, Device.cpu())) {
            assertEquals(PredictionType.EPSILON, plain.schedulerConfig().predictionType());
            eps = run(plain, lat);
        }
        try (StableDiffusionPipeline forced = ModelLoader.load(TinyModels.singleFilePath(), DataType.FLOAT32, Device.cpu(),
                new ModelLoader.Options(PredictionType.V_PREDICTION, null))) {
            v = run(forced, lat);
        }
        assertFalse(Arrays.equals(eps.rgb(), v.rgb()), "v-prediction must change the image");
        Path marked = singleFile("vpred.safetensors", Map.of(),
                w -> w.add("v_pred", "F32", new long[] {0}, new byte[0]));
        Path spec = singleFile("spec-v.safetensors", Map.of("modelspec.prediction_type", "v"), w -> { });
        for (Path f : List.of(marked, spec)) {
            try (StableDiffusionPipeline p = ModelLoader.load(f, DataType.FLOAT32, Device.cpu())) {
                assertEquals(PredictionType.V_PREDICTION, p.schedulerConfig().predictionType(), f.toString());
                assertArrayEquals(v.rgb(), run(p, lat).rgb(), f + ": the v-prediction image");
            }
        }
        // the explicit setting wins over the file's marker
        try (StableDiffusionPipeline p = ModelLoader.load(marked, DataType.FLOAT32, Device.cpu(),
                new ModelLoader.Options(PredictionType.EPSILON, null))) {
            assertArrayEquals(eps.rgb(), run(p, lat).rgb());
        }
    }

    @Test
    void predictionTypeDecisionOrder() {
        try (Weights sd = Weights.open(TinyModels.singleFilePath());
                Weights specEps = Weights.open(singleFile("eps.safetensors",
                        Map.of("modelspec.prediction_type", "epsilon"), w -> { }));
                Weights odd = Weights.open(singleFile("odd.safetensors",
                        Map.of("modelspec.prediction_type", "flow"), w -> { }));
                Weights ztsnr = Weights.open(singleFile("ztsnr.safetensors", Map.of(),
                        w -> w.add("v_pred", "F32", new long[] {0}, new byte[0]).add("ztsnr", "F32", new long[] {0},
                                new byte[0])))) {
            var none = ModelLoader.Options.DEFAULTS;
            var sd1 = CheckpointArchitecture.Family.SD1;
            var sd2 = CheckpointArchitecture.Family.SD2;
            assertEquals(PredictionType.EPSILON, ModelLoader.singleFileScheduler(sd, sd1, none).predictionType());
            // SD 2.x without a marker: v-prediction, as diffusers infers; a marker or the setting says otherwise
            assertEquals(PredictionType.V_PREDICTION, ModelLoader.singleFileScheduler(sd, sd2, none).predictionType());
            assertEquals(PredictionType.EPSILON, ModelLoader.singleFileScheduler(specEps, sd2, none).predictionType());
            assertEquals(PredictionType.EPSILON, ModelLoader.singleFileScheduler(sd, sd2,
                    new ModelLoader.Options(PredictionType.EPSILON, null)).predictionType());
            assertEquals(PredictionType.EPSILON, ModelLoader.singleFileScheduler(odd, sd1, none).predictionType());
            var z = ModelLoader.singleFileScheduler(ztsnr, sd1, none);
            assertEquals(PredictionType.V_PREDICTION, z.predictionType());
            assertTrue(z.rescaleBetasZeroSnr());
        }
        assertEquals(PredictionType.V_PREDICTION, ModelLoader.modelSpecPrediction("v_prediction"));
        assertEquals(null, ModelLoader.modelSpecPrediction("sample"));
    }

    /**
     * A separate VAE replaces the model's own as diffusers' {@code pipe.vae = AutoencoderKL...} does: the
     * tiny SDXL VAE (another architecture: 4 levels of 16 channels) given as its diffusers folder, as its
     * diffusers-named weights file and as a single-file (LDM-named) VAE decodes the tiny SDXL reference
     * latents to diffusers' {@code AutoencoderKL} image, on both layouts of the SD 1.5 model.
     */
    @Test
    void aSeparateVaeDecodesAsDiffusersAutoencoderKl() {
        Path folder = TinySdxl.root().resolve("model/vae");
        Path diffusersFile = folder.resolve("diffusion_pytorch_model.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        try (Weights all = Weights.open(TinySdxl.singleFilePath())) {
            Weights vae = all.subset("first_stage_model.");
            vae.names().forEach(n -> w.add(n, vae.get(n)));
        }
        Path ldmFile = w.write(tmp.resolve("sdxl_vae.safetensors"));
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray latents = ReferenceData.load(m, "tiny-sdxl", "vae_decode.latents");
            NDArray image = ReferenceData.load(m, "tiny-sdxl", "vae_decode.image");
            for (Path model : List.of(TinyModels.folderPath(), TinyModels.singleFilePath())) {
                for (Path vae : List.of(folder, diffusersFile, ldmFile)) {
                    try (StableDiffusionPipeline p = ModelLoader.load(model, DataType.FLOAT32, Device.cpu(),
                            ModelLoader.Options.DEFAULTS.withVae(vae))) {
                        AutoencoderKL v = p.models().vae();
                        assertEquals(List.of(16, 16, 16, 16), v.config().blockOutChannels());
                        // a folder or a file next to its config.json: that config; an LDM file: the model's scaling
                        assertEquals(vae == ldmFile ? 0.18215 : 0.13025, v.config().scalingFactor(), 1e-12);
                        ReferenceData.assertClose(image, v.decode(m, latents), model.getFileName() + " + " + vae);
                    }
                }
            }
        }
    }

    /** The swap changes the decode only: same latents, the image the new VAE decodes from them. */
    @Test
    void aSeparateVaeChangesOnlyTheDecode() {
        float[][] own = new float[1][];
        float[][] swapped = new float[1][];
        RgbImage before = run(TinyModels.folder(), own);
        Path vaeDir = TinySdxl.root().resolve("model/vae");
        try (StableDiffusionPipeline p = ModelLoader.load(TinyModels.folderPath(), DataType.FLOAT32, Device.cpu(),
                ModelLoader.Options.DEFAULTS.withVae(vaeDir));
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            assertTrue(p.description().endsWith(" with VAE " + vaeDir), p.description());
            RgbImage after = run(p, swapped);
            assertArrayEquals(own[0], swapped[0], "latents do not depend on the VAE");
            assertFalse(Arrays.equals(before.rgb(), after.rgb()), "a different VAE must change the image");
            AutoencoderKL sdxlVae = DiffusersLoader.loadVae(vaeDir, m, DataType.FLOAT32, Device.cpu());
            NDArray decoded = sdxlVae.decode(m, m.create(swapped[0], new ai.djl.ndarray.types.Shape(1, 4, 8, 8))
                    .div((float) sdxlVae.config().scalingFactor()));
            float[] chw = decoded.div(2).add(0.5f).clip(0, 1).mul(255).toFloatArray();
            int worst = 0;
            for (int y = 0; y < 64; y++) {
                for (int x = 0; x < 64; x++) {
                    for (int c = 0; c < 3; c++) {
                        int expected = Math.round(chw[(c * 64 + y) * 64 + x]);
                        worst = Math.max(worst, Math.abs(expected - (after.rgb()[(y * 64 + x) * 3 + c] & 0xFF)));
                    }
                }
            }
            assertTrue(worst <= 1, "image differs from the swapped VAE's decode by " + worst + " levels");
        }
    }

    @Test
    void whatIsNotAVaeIsRefused() {
        Path notVae = new SafetensorsWriter().addF32("encoder.weight", new long[] {1}, 1f).write(tmp.resolve("x.safetensors"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> VaeFile.check(notVae));
        assertTrue(e.getMessage().startsWith(notVae + ": not a VAE"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> ModelLoader.check(TinyModels.singleFilePath(),
                ModelLoader.Options.DEFAULTS.withVae(tmp.resolve("missing.safetensors"))));
        assertTrue(e.getMessage().endsWith("missing.safetensors: VAE: no such file or folder"), e.getMessage());
    }
}
