package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.add;
import static org.diffusionbot.worker.engine.Scalars.clip;
import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.maximum;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.loaders.ConfigJson;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.io.Weights;

/**
 * Stable Diffusion's image safety checker, as diffusers' {@code StableDiffusionSafetyChecker}
 * ({@code pipelines/stable_diffusion/safety_checker.py}) with the image preprocessing of the SD
 * pipelines' {@code feature_extractor} (transformers' {@code CLIPImageProcessor}).
 *
 * <p>Preprocessing ({@link #preprocess}): each 8-bit image is resized so its shortest side is the
 * model's image size (224) with Pillow's bicubic filter (a = −0.5, widened when shrinking, i.e.
 * antialiased; horizontal pass first, each pass rounded to 8 bits, as Pillow resizes 8-bit images),
 * center-cropped to a square, scaled to [0, 1] and normalised with CLIP's mean and std. The resize
 * is two matrix products on the device.
 *
 * <p>Model ({@link #imageEmbeds}): CLIP's vision tower (patch embedding without bias, class token,
 * position embeddings, {@code pre_layrnorm}, pre-LayerNorm encoder layers, {@code post_layernorm} of
 * the class token) and {@code visual_projection} (no bias). Scores ({@link #verdicts}) follow
 * diffusers' {@code forward}: the cosine similarity of the image embedding with each of the 3
 * special-care and 17 concept embeddings, minus that embedding's threshold, plus an adjustment that
 * becomes 0.01 as soon as one special-care score is positive (for the special-care concepts after it
 * and for every concept), rounded to 3 decimals in float32; an image is NSFW when a concept score is
 * positive. Checked against diffusers on a tiny random model ({@code scripts/reference/
 * safety_checker_reference.py}, docs/MODERATION.md).
 *
 * <p>Weights: {@code .safetensors} only, as diffusers saves a pipeline's {@code safety_checker/}
 * folder ({@code model.safetensors} + {@code config.json}); tensor names {@code vision_model.*} as
 * transformers 5 writes them, or {@code vision_model.vision_model.*} as the published SD checkpoints
 * have them. Without a {@code config.json} the configuration is read off the tensor shapes, with
 * 64-wide heads and {@code quick_gelu} (OpenAI's CLIP ViT-L/14, the published checker).
 */
public final class SafetyChecker {
    /** CLIP's normalisation ({@code image_mean}, {@code image_std} of the SD feature extractor). */
    static final float[] MEAN = {0.48145466f, 0.4578275f, 0.40821073f};
    static final float[] STD = {0.26862954f, 0.26130258f, 0.27577711f};
    private static final String P = "vision_model.";
    private static final String LEGACY = "vision_model.vision_model.";

    /**
     * The vision tower's configuration ({@code vision_config} of transformers' {@code CLIPConfig}) and
     * the projection width.
     */
    public record Config(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
            int imageSize, int patchSize, String hiddenAct, double layerNormEps, int projectionDim) {
        /** Validates the values. */
        public Config {
            if (!hiddenAct.equals("quick_gelu") && !hiddenAct.equals("gelu")) {
                throw new ModelFormatException("unsupported CLIP vision hidden_act " + hiddenAct);
            }
            if (numAttentionHeads <= 0 || hiddenSize % numAttentionHeads != 0) {
                throw new ModelFormatException("hidden_size " + hiddenSize + " not divisible by heads " + numAttentionHeads);
            }
            if (patchSize <= 0 || imageSize % patchSize != 0) {
                throw new ModelFormatException("image_size " + imageSize + " is not a multiple of patch_size " + patchSize);
            }
        }

        int gridSize() {
            return imageSize / patchSize;
        }
    }

    /**
     * The check of one image.
     *
     * @param nsfw whether a concept score is positive (diffusers' {@code has_nsfw_concept})
     * @param score the highest concept score: positive when flagged, and how far from the nearest threshold
     */
    public record Verdict(boolean nsfw, float score) {
    }

    private final Config config;
    private final DataType dtype;
    private final Device device;
    private final NDArray patchWeight;
    private final NDArray patchBias;
    private final NDArray classEmbedding;
    private final NDArray positionEmbedding;
    private final LayerNormLayer preNorm;
    private final List<ClipEncoderLayer> layers = new ArrayList<>();
    private final LayerNormLayer postNorm;
    private final LinearLayer projection;
    private final NDArray conceptsT;
    private final NDArray specialT;
    private final float[] conceptThresholds;
    private final float[] specialThresholds;

    private SafetyChecker(Config config, Weights weights, NDManager manager, DataType dtype, Device device) {
        this.config = config;
        this.dtype = dtype;
        this.device = device;
        Params p = new Params(weights, manager, dtype, device);
        int h = config.hiddenSize();
        int proj = config.projectionDim();
        long positions = (long) config.gridSize() * config.gridSize() + 1;
        patchWeight = p.get(P + "embeddings.patch_embedding.weight", h, 3, config.patchSize(), config.patchSize());
        patchBias = manager.zeros(new Shape(h), dtype, device);
        classEmbedding = p.get(P + "embeddings.class_embedding", h);
        positionEmbedding = p.get(P + "embeddings.position_embedding.weight", positions, h);
        preNorm = new LayerNormLayer(p, P + "pre_layrnorm", h, config.layerNormEps());
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            layers.add(new ClipEncoderLayer(p, P + "encoder.layers." + i + ".", h, config.intermediateSize(),
                    config.numAttentionHeads(), config.layerNormEps(), config.hiddenAct()));
        }
        postNorm = new LayerNormLayer(p, P + "post_layernorm", h, config.layerNormEps());
        projection = new LinearLayer(p, "visual_projection", h, proj, false);
        conceptsT = normalizedRows(manager, weights, "concept_embeds", 17, proj, device);
        specialT = normalizedRows(manager, weights, "special_care_embeds", 3, proj, device);
        conceptThresholds = floats(weights, "concept_embeds_weights", 17);
        specialThresholds = floats(weights, "special_care_embeds_weights", 3);
        p.verify();
    }

    /**
     * Loads a checker.
     *
     * @param path a folder with {@code model.safetensors} (and usually {@code config.json}), or a
     *     {@code .safetensors} file (with a checker's {@code config.json} beside it, or none)
     * @param manager long-lived owner of the parameters
     * @param dtype parameter and compute type of the vision tower (scores are computed in float32)
     * @param device where it runs
     * @return the checker
     * @throws ModelFormatException for a missing or non-safetensors file, a malformed config, or tensors
     *     missing, unexpected or of the wrong shape (all of them named)
     */
    public static SafetyChecker load(Path path, NDManager manager, DataType dtype, Device device) {
        Path file = Files.isDirectory(path) ? path.resolve("model.safetensors") : path;
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(file + ": no such file (the safety checker is a .safetensors file, or a "
                    + "folder with model.safetensors and config.json as in a diffusers pipeline's safety_checker/)");
        }
        if (!file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) {
            throw new ModelFormatException(file + ": only .safetensors safety checkers are read (pickled checkpoints "
                    + "can run code when loaded); convert it with safetensors' convert script first");
        }
        Path configFile = file.resolveSibling("config.json");
        try (Weights raw = Weights.open(file)) {
            Weights w = raw.renamed(n -> n.startsWith(LEGACY) ? P + n.substring(LEGACY.length()) : n)
                    .ignoreUnused(n -> n.endsWith("position_ids"));
            Config config = Files.isRegularFile(configFile) && hasVisionConfig(configFile)
                    ? parseConfig(configFile.toString(), ConfigJson.text(configFile))
                    : inferConfig(w);
            return new SafetyChecker(config, w, manager, dtype, device);
        }
    }

    /** @return the configuration */
    public Config config() {
        return config;
    }

    /**
     * Checks images of one size, in one batch on the checker's device.
     *
     * @param caller owner of the temporaries (freed before this returns)
     * @param width pixels per row of every image
     * @param height rows of every image
     * @param rgb the images as interleaved 8-bit RGB, row-major ({@code 3 · width · height} bytes each)
     * @return one verdict per image, in order
     */
    public List<Verdict> check(NDManager caller, int width, int height, List<byte[]> rgb) {
        try (NDManager m = caller.newSubManager(device)) {
            NDArray input = preprocess(m, width, height, rgb);
            return verdicts(imageEmbeds(m, input.toType(dtype, false)));
        }
    }

    /**
     * The feature extractor's pixel values of same-sized images.
     *
     * @param m owner of the result
     * @return (B, 3, S, S) float32 on the checker's device, S = the config's image size
     */
    NDArray preprocess(NDManager m, int w, int h, List<byte[]> rgb) {
        int s = config.imageSize();
        // shortest side to s, the other as int(s * long / short); then the centered s x s square
        int outW = w <= h ? s : (int) ((long) s * w / h);
        int outH = h <= w ? s : (int) ((long) s * h / w);
        ByteBuffer all = ByteBuffer.allocateDirect(rgb.size() * 3 * w * h);
        for (byte[] img : rgb) {
            if (img.length != 3 * w * h) {
                throw new IllegalArgumentException("an image of " + img.length + " bytes is not " + w + "x" + h + " RGB");
            }
            all.put(img);
        }
        all.flip();
        try (NDManager sub = m.newSubManager(device)) {
            NDArray x = sub.create(all, new Shape(rgb.size(), h, w, 3), DataType.UINT8).toDevice(device, false)
                    .toType(DataType.FLOAT64, false).transpose(0, 3, 1, 2); // (B, 3, H, W), 0..255
            NDArray colsT = sub.create(resizeMatrix(w, outW, (outW - s) / 2, s), new Shape(s, w))
                    .toDevice(device, false).transpose();
            NDArray rows = sub.create(resizeMatrix(h, outH, (outH - s) / 2, s), new Shape(s, h)).toDevice(device, false);
            // float64: the sums of 8-bit values times Pillow's 22-bit coefficients are exact, so the
            // rounding of each pass is Pillow's integer rounding (float32 would flip some halves)
            x = round8(x.matMul(colsT)); // horizontal pass first, as Pillow
            x = round8(rows.matMul(x)).toType(DataType.FLOAT32, false);
            NDArray mean = sub.create(MEAN, new Shape(1, 3, 1, 1)).toDevice(device, false);
            NDArray std = sub.create(STD, new Shape(1, 3, 1, 1)).toDevice(device, false);
            NDArray out = div(x, 255f).sub(mean).div(std);
            out.attach(m);
            return out;
        }
    }

    /** Pillow's 8-bit pass result: round half up, clip to 0..255. */
    private static NDArray round8(NDArray x) {
        return clip(add(x, 0.5).floor(), 0, 255);
    }

    /**
     * Rows {@code [from, from + count)} of Pillow's bicubic resampling matrix from {@code in} to {@code out}
     * samples ({@code precompute_coeffs} of Pillow's {@code Resample.c}, with its 8-bit fixed-point rounding of
     * the coefficients), row-major (count, in).
     */
    static double[] resizeMatrix(int in, int out, int from, int count) {
        final int precisionBits = 32 - 8 - 2;
        double scale = (double) in / out;
        double filterScale = Math.max(scale, 1.0);
        double support = 2.0 * filterScale;
        double[] m = new double[count * in];
        for (int r = 0; r < count; r++) {
            double center = (from + r + 0.5) * scale;
            int xmin = Math.max((int) (center - support + 0.5), 0);
            int xmax = Math.min((int) (center + support + 0.5), in);
            double[] k = new double[xmax - xmin];
            double sum = 0;
            for (int x = xmin; x < xmax; x++) {
                k[x - xmin] = bicubic((x - center + 0.5) / filterScale);
                sum += k[x - xmin];
            }
            for (int x = xmin; x < xmax; x++) {
                double v = sum == 0 ? 0 : k[x - xmin] / sum;
                long fixed = (long) (v < 0 ? -0.5 + v * (1 << precisionBits) : 0.5 + v * (1 << precisionBits));
                m[r * in + x] = (double) fixed / (1 << precisionBits);
            }
        }
        return m;
    }

    /** Pillow's bicubic kernel, a = −0.5. */
    private static double bicubic(double x) {
        final double a = -0.5;
        x = Math.abs(x);
        if (x < 1) {
            return ((a + 2) * x - (a + 3)) * x * x + 1;
        }
        if (x < 2) {
            return (((x - 5) * x + 8) * x - 4) * a;
        }
        return 0;
    }

    /**
     * The projected image embeddings.
     *
     * @param caller owner of the result
     * @param clipInput (B, 3, S, S) pixel values in the checker's dtype
     * @return (B, projection_dim) float32
     */
    NDArray imageEmbeds(NDManager caller, NDArray clipInput) {
        return Ops.scoped(caller, sub -> {
            long b = clipInput.getShape().get(0);
            int h = config.hiddenSize();
            long n = (long) config.gridSize() * config.gridSize();
            NDArray patches = Conv2d.conv2d(clipInput, patchWeight, patchBias, new Shape(config.patchSize(),
                    config.patchSize()), new Shape(0, 0), new Shape(1, 1), 1).head(); // (B, h, g, g)
            patches = patches.reshape(b, h, n).transpose(0, 2, 1);
            NDArray cls = sub.zeros(new Shape(b, 1, h), dtype, clipInput.getDevice()).add(classEmbedding);
            NDArray x = Ops.concat(new NDList(cls, patches), 1).add(positionEmbedding);
            x = preNorm.forward(x);
            for (ClipEncoderLayer layer : layers) {
                x = layer.forward(x, null);
            }
            NDArray pooled = postNorm.forward(x.get(":, 0, :"));
            return projection.forward(pooled).toType(DataType.FLOAT32, false);
        }, clipInput);
    }

    /**
     * diffusers' scores and flags from image embeddings.
     *
     * @param embeds (B, projection_dim) float32
     * @return one verdict per row
     */
    List<Verdict> verdicts(NDArray embeds) {
        NDArray e = embeds.div(maximum(embeds.norm(new int[] {1}, true), 1e-12f));
        float[] special = e.matMul(specialT).toFloatArray();
        float[] concept = e.matMul(conceptsT).toFloatArray();
        int b = (int) embeds.getShape().get(0);
        List<Verdict> out = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            float adjustment = 0f;
            for (int k = 0; k < specialThresholds.length; k++) {
                if (round3(special[i * specialThresholds.length + k] - specialThresholds[k] + adjustment) > 0) {
                    adjustment = 0.01f;
                }
            }
            float max = Float.NEGATIVE_INFINITY;
            for (int k = 0; k < conceptThresholds.length; k++) {
                max = Math.max(max, round3(concept[i * conceptThresholds.length + k] - conceptThresholds[k] + adjustment));
            }
            out.add(new Verdict(max > 0, max));
        }
        return out;
    }

    /** Python's {@code round(numpy.float32, 3)}: rint(x · 1000) / 1000 in float32. */
    private static float round3(float x) {
        return (float) Math.rint(x * 1000f) / 1000f;
    }

    /** (proj, rows) float32: the embeddings normalised to unit length, transposed for one matMul. */
    private static NDArray normalizedRows(NDManager manager, Weights w, String name, int rows, int proj, Device device) {
        float[] v = floats(w, name, rows, proj);
        for (int r = 0; r < rows; r++) {
            double norm = 0;
            for (int c = 0; c < proj; c++) {
                norm += (double) v[r * proj + c] * v[r * proj + c];
            }
            float d = (float) Math.max(Math.sqrt(norm), 1e-12);
            for (int c = 0; c < proj; c++) {
                v[r * proj + c] /= d;
            }
        }
        return manager.create(v, new Shape(rows, proj)).transpose().toDevice(device, false);
    }

    private static float[] floats(Weights w, String name, long... shape) {
        TensorView t = w.take(name, new Shape(shape));
        if (t == null) {
            return new float[(int) new Shape(shape).size()]; // reported by verify()
        }
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            return t.toNDArray(m, DataType.FLOAT32, Device.cpu()).toFloatArray();
        }
    }

    private static boolean hasVisionConfig(Path configFile) {
        ConfigJson c = ConfigJson.parse(configFile.toString(), ConfigJson.text(configFile));
        return !c.isNull("vision_config") || !c.isNull("vision_config_dict");
    }

    /**
     * Reads a checker's {@code config.json} (transformers' {@code CLIPConfig}: {@code projection_dim} and
     * {@code vision_config}, or {@code vision_config_dict} in older files); absent fields take
     * {@code CLIPVisionConfig}'s defaults.
     */
    static Config parseConfig(String source, String json) {
        ConfigJson top = ConfigJson.parse(source, json);
        String key = top.isNull("vision_config") ? "vision_config_dict" : "vision_config";
        ConfigJson v = ConfigJson.parse(source + " " + key, top.isNull(key) ? "{}" : top.node(key).toString());
        return new Config(v.integer("hidden_size", 768), v.integer("intermediate_size", 3072),
                v.integer("num_hidden_layers", 12), v.integer("num_attention_heads", 12), v.integer("image_size", 224),
                v.integer("patch_size", 32), v.string("hidden_act", "quick_gelu"), v.number("layer_norm_eps", 1e-5),
                top.integer("projection_dim", 512));
    }

    /** The configuration a checker's tensors imply (64-wide heads, quick_gelu: OpenAI's CLIP). */
    static Config inferConfig(Weights w) {
        TensorView patch = require(w, P + "embeddings.patch_embedding.weight");
        TensorView pos = require(w, P + "embeddings.position_embedding.weight");
        TensorView fc1 = require(w, P + "encoder.layers.0.mlp.fc1.weight");
        TensorView proj = require(w, "visual_projection.weight");
        int hidden = (int) patch.shape().get(0);
        int patchSize = (int) patch.shape().get(2);
        int grid = (int) Math.round(Math.sqrt(pos.shape().get(0) - 1));
        int layers = 0;
        while (w.get(P + "encoder.layers." + layers + ".mlp.fc1.weight") != null) {
            layers++;
        }
        return new Config(hidden, (int) fc1.shape().get(0), layers, Math.max(1, hidden / 64), grid * patchSize,
                patchSize, "quick_gelu", 1e-5, (int) proj.shape().get(0));
    }

    private static TensorView require(Weights w, String name) {
        TensorView t = w.get(name);
        if (t == null) {
            throw new ModelFormatException(w.source() + ": not a safety checker (no " + name + ")");
        }
        return t;
    }
}
