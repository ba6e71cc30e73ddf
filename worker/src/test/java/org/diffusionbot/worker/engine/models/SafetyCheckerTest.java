package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.worker.engine.pipeline.RgbImage;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.SafetensorsFile;
import org.diffusionbot.worker.engine.io.SafetensorsWriter;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.io.Weights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The safety checker against diffusers' StableDiffusionSafetyChecker on a tiny random model of its architecture
 * (resources made by scripts/reference/safety_checker_reference.py): image 0 of batch0 is flagged by a concept,
 * image 1 only through the special-care adjustment, the others are clean.
 */
class SafetyCheckerTest {
    static final String[] BATCHES = {"batch0", "batch1"};
    static NDManager manager;
    static SafetyChecker checker;

    static Path root() {
        try {
            return Path.of(SafetyCheckerTest.class.getResource("/safety-checker").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static NDArray ref(NDManager m, String name) {
        try (SafetensorsFile f = SafetensorsFile.open(root().resolve("reference.safetensors"))) {
            return f.tensor(name).toNDArray(m, DataType.FLOAT32, Device.cpu());
        }
    }

    @BeforeAll
    static void load() {
        manager = NDManager.newBaseManager(Device.cpu());
        checker = SafetyChecker.load(root().resolve("safety_checker"), manager, DataType.FLOAT32, Device.cpu());
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    /** The reference images (n, h, w, 3) in [0, 1], exactly k/255, as 8-bit images. */
    static List<RgbImage> images(NDManager m, String batch) {
        NDArray x = ref(m, batch + ".images");
        long[] s = x.getShape().getShape();
        float[] v = x.toFloatArray();
        int per = (int) (s[1] * s[2] * 3);
        List<RgbImage> out = new ArrayList<>();
        for (int i = 0; i < s[0]; i++) {
            byte[] rgb = new byte[per];
            for (int k = 0; k < per; k++) {
                rgb[k] = (byte) Math.round(v[i * per + k] * 255f);
            }
            out.add(new RgbImage((int) s[2], (int) s[1], rgb));
        }
        return out;
    }

    static List<byte[]> rgb(List<RgbImage> images) {
        return images.stream().map(RgbImage::rgb).toList();
    }

    /** Checks images of mixed sizes, one batch per size, as the worker does. */
    static List<SafetyChecker.Verdict> check(SafetyChecker c, NDManager m, List<RgbImage> images) {
        SafetyChecker.Verdict[] out = new SafetyChecker.Verdict[images.size()];
        for (int i = 0; i < images.size(); i++) {
            RgbImage img = images.get(i);
            if (out[i] == null) {
                List<Integer> same = new ArrayList<>();
                for (int k = i; k < images.size(); k++) {
                    if (images.get(k).width() == img.width() && images.get(k).height() == img.height()) {
                        same.add(k);
                    }
                }
                List<SafetyChecker.Verdict> v = c.check(m, img.width(), img.height(),
                        same.stream().map(k -> images.get(k).rgb()).toList());
                for (int k = 0; k < same.size(); k++) {
                    out[same.get(k)] = v.get(k);
                }
            }
        }
        return List.of(out);
    }

    static float[] maxConceptScores(NDManager m, String batch) {
        NDArray c = ref(m, batch + ".concept_scores");
        return c.max(new int[] {1}).toFloatArray();
    }

    @Test
    void configIsReadFromConfigJson() {
        assertEquals(new SafetyChecker.Config(32, 64, 2, 4, 224, 14, "quick_gelu", 1e-5, 16), checker.config());
    }

    @Test
    void preprocessingMatchesTheFeatureExtractor() {
        for (String b : BATCHES) {
            try (NDManager m = manager.newSubManager()) {
                float[] expected = ref(m, b + ".clip_input").toFloatArray();
                float[] actual = checker.preprocess(m, images(m, b).get(0).width(), images(m, b).get(0).height(), rgb(images(m, b))).toFloatArray();
                assertEquals(expected.length, actual.length, b);
                double maxDiff = 0;
                for (int i = 0; i < expected.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
                }
                // Pillow's 8-bit result exactly: what is left is the reference's fp16 storage (values up to
                // ~2.2: steps of 2^-9 at most, so 0.001 after rounding); one 8-bit level would be 1/255/std ≈ 0.015
                assertTrue(maxDiff <= 0.0011, b + ": pixel values differ by up to " + maxDiff);
            }
        }
    }

    @Test
    void embeddingsAndScoresMatchDiffusersFromTheSamePixelValues() {
        for (String b : BATCHES) {
            try (NDManager m = manager.newSubManager()) {
                NDArray embeds = checker.imageEmbeds(m, ref(m, b + ".clip_input"));
                ReferenceData.assertClose(ref(m, b + ".image_embeds"), embeds, b + " image_embeds");
                List<SafetyChecker.Verdict> v = checker.verdicts(embeds);
                float[] nsfw = ref(m, b + ".has_nsfw").toFloatArray();
                float[] scores = maxConceptScores(m, b);
                for (int i = 0; i < v.size(); i++) {
                    assertEquals(nsfw[i] > 0, v.get(i).nsfw(), b + " image " + i);
                    assertEquals(scores[i], v.get(i).score(), 1e-6, b + " image " + i + " score");
                }
            }
        }
    }

    @Test
    void checkingImagesGivesDiffusersFlagsAndScores() {
        try (NDManager m = manager.newSubManager()) {
            List<RgbImage> all = new ArrayList<>();
            List<Float> flags = new ArrayList<>();
            List<Float> scores = new ArrayList<>();
            // both sizes mixed, one batch per size
            for (String b : BATCHES) {
                all.addAll(images(m, b));
                for (float f : ref(m, b + ".has_nsfw").toFloatArray()) {
                    flags.add(f);
                }
                for (float s : maxConceptScores(m, b)) {
                    scores.add(s);
                }
            }
            List<RgbImage> mixed = List.of(all.get(0), all.get(3), all.get(1), all.get(2));
            int[] order = {0, 3, 1, 2};
            List<SafetyChecker.Verdict> v = check(checker, m, mixed);
            assertEquals(List.of(true, false, true, false), v.stream().map(SafetyChecker.Verdict::nsfw).toList());
            for (int k = 0; k < order.length; k++) {
                assertEquals(flags.get(order[k]) > 0, v.get(k).nsfw());
                assertEquals(scores.get(order[k]), v.get(k).score(), 0.0015, "image " + order[k]);
            }
        }
    }

    @Test
    void thePublishedNamingAndTheShapesWithoutConfigJsonLoadToo(@TempDir Path dir) throws IOException {
        SafetensorsWriter legacy = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(root().resolve("safety_checker/model.safetensors"))) {
            for (TensorView t : f.tensors().values()) {
                String n = t.name().startsWith("vision_model.") ? "vision_model." + t.name() : t.name();
                legacy.add(n, t);
            }
            legacy.addF32("vision_model.vision_model.embeddings.position_ids", new long[] {1, 1}, 0f);
            Path folder = Files.createDirectories(dir.resolve("safety_checker"));
            legacy.write(folder.resolve("model.safetensors"));
            Files.copy(root().resolve("safety_checker/config.json"), folder.resolve("config.json"));
            try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
                SafetyChecker c = SafetyChecker.load(folder, m, DataType.FLOAT32, Device.cpu());
                List<SafetyChecker.Verdict> v = check(c, m, images(m, "batch0"));
                assertEquals(List.of(true, true, false), v.stream().map(SafetyChecker.Verdict::nsfw).toList());
            }
            try (Weights w = Weights.open(folder.resolve("model.safetensors"))) {
                SafetyChecker.Config inferred = SafetyChecker.inferConfig(
                        w.renamed(n -> n.replace("vision_model.vision_model.", "vision_model.")));
                assertEquals(new SafetyChecker.Config(32, 64, 2, 1, 224, 14, "quick_gelu", 1e-5, 16), inferred,
                        "shapes give everything but the head count, which is taken as hidden / 64 (at least 1)");
            }
        }
    }

    @Test
    void badFilesAreRefusedWithTheReason(@TempDir Path dir) throws IOException {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Path ckpt = Files.write(dir.resolve("checker.ckpt"), new byte[] {1, 2, 3});
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> SafetyChecker.load(ckpt, m, DataType.FLOAT32, Device.cpu()));
            assertTrue(e.getMessage().contains("only .safetensors"), e.getMessage());
            e = assertThrows(ModelFormatException.class,
                    () -> SafetyChecker.load(dir.resolve("nothing"), m, DataType.FLOAT32, Device.cpu()));
            assertTrue(e.getMessage().contains("no such file"), e.getMessage());
            SafetensorsWriter partial = new SafetensorsWriter();
            try (SafetensorsFile f = SafetensorsFile.open(root().resolve("safety_checker/model.safetensors"))) {
                f.tensors().values().stream().filter(t -> !t.name().equals("concept_embeds")).forEach(t -> partial.add(t.name(), t));
                Path folder = Files.createDirectories(dir.resolve("partial"));
                partial.write(folder.resolve("model.safetensors"));
                Files.copy(root().resolve("safety_checker/config.json"), folder.resolve("config.json"));
                e = assertThrows(ModelFormatException.class, () -> SafetyChecker.load(folder, m, DataType.FLOAT32, Device.cpu()));
                assertTrue(e.getMessage().contains("missing: concept_embeds"), e.getMessage());
            }
        }
    }

    @Test
    void resizeMatrixIsIdentityAtTheSameSizeAndRowsSumToOne() {
        double[] id = SafetyChecker.resizeMatrix(5, 5, 0, 5);
        for (int r = 0; r < 5; r++) {
            for (int c = 0; c < 5; c++) {
                assertEquals(r == c ? 1.0 : 0.0, id[r * 5 + c], 0.0);
            }
        }
        double[] down = SafetyChecker.resizeMatrix(512, 224, 0, 224);
        for (int r = 0; r < 224; r++) {
            double sum = 0;
            for (int c = 0; c < 512; c++) {
                sum += down[r * 512 + c];
            }
            assertEquals(1.0, sum, 1e-5, "row " + r);
        }
    }
}
