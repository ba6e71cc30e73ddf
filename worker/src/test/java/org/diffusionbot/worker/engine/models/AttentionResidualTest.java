package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.function.Function;
import org.diffusionbot.worker.engine.TinySdxl;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The attentions' residual added by their output projection ({@code SD_ATTN_RESIDUAL}, {@link NativeOps#ATTN_RESIDUAL}):
 * {@link Attention#forward(NDArray, NDArray, NDArray, NDArray)} given the residual is the attention + the residual, and
 * the transformer blocks (and CLIP's encoder layers) wired that way give what the old structure gave (the attention,
 * then the add inside the next LayerNorm's pass): the tiny SD 1.5 UNet, text encoder and the tiny SDXL UNet with the
 * switch on and off, on the CPU in float32 (the DJL path: the product, then the add, so the two orders differ by
 * rounding only; on CUDA the fused product rounds once, within fp16 rounding: KernelSelfCheck's attentionResidual).
 */
class AttentionResidualTest {
    /** max|on − off| ≤ this · max(1, max|off|): float32 rounding, far below the reference tests' 1e-4. */
    private static final double TOLERANCE = 1e-6;
    private static NDManager models;
    private static Attention self;
    private static Attention cross;
    private static Attention clip;
    private static UNet2DConditionModel unet;
    private static ClipTextEncoder encoder;

    @BeforeAll
    static void load() {
        models = NDManager.newBaseManager(Device.cpu());
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            Params p = new Params(w, models, DataType.FLOAT32, Device.cpu());
            String block = "down_blocks.0.attentions.0.transformer_blocks.0";
            self = new Attention(p, block + ".attn1", Attention.Names.DIFFUSERS, 32, 0, 8, false, false);
            cross = new Attention(p, block + ".attn2", Attention.Names.DIFFUSERS, 32, 32, 8, false, false);
        }
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("text_encoder/model.safetensors"))) {
            Params p = new Params(w, models, DataType.FLOAT32, Device.cpu());
            clip = new Attention(p, "text_model.encoder.layers.0.self_attn", Attention.Names.CLIP, 32, 0, 4, true,
                    false);
        }
        UNetConfig cfg = UNetConfig.load(ReferenceData.modelDir().resolve("unet/config.json"));
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            unet = new UNet2DConditionModel(cfg, w, models, DataType.FLOAT32, Device.cpu());
        }
        ClipTextConfig textCfg = ClipTextConfig.load(ReferenceData.modelDir().resolve("text_encoder/config.json"));
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("text_encoder/model.safetensors"))) {
            encoder = new ClipTextEncoder(textCfg, w, models, DataType.FLOAT32, Device.cpu());
        }
    }

    @AfterAll
    static void close() {
        NativeOps.ATTN_RESIDUAL.set(null);
        models.close();
    }

    @AfterEach
    void restore() {
        NativeOps.ATTN_RESIDUAL.set(null);
    }

    /** The values in logical (row-major) order. */
    private static float[] values(NDArray a) {
        return a.toType(DataType.FLOAT32, false).reshape(-1).toFloatArray();
    }

    @Test
    void onByDefaultAndTheDjlPathFollowsTheSwitch() {
        assumeFalse(NativeOps.available(), "the native library is loaded");
        assertEquals("SD_ATTN_RESIDUAL", NativeOps.ATTN_RESIDUAL.name());
        assertTrue(NativeOps.ATTN_RESIDUAL.on(), "on unless 0");
        assertFalse(NativeOps.ATTN_RESIDUAL.linked(), "no library: nothing handed to one");
        assertTrue(NativeOps.attnResidual(), "the DJL path takes the new structure by default");
        NativeOps.ATTN_RESIDUAL.set(false);
        assertFalse(NativeOps.attnResidual(), "0: the old structure");
        NativeOps.ATTN_RESIDUAL.set(null);
        assertTrue(NativeOps.attnResidual());
    }

    @Test
    void anAttentionGivenTheResidualIsTheAttentionPlusTheResidual() {
        assumeFalse(NativeOps.enabled(), "the plain DJL path");
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = m.randomNormal(new Shape(2, 16, 32));
            NDArray r = m.randomNormal(new Shape(2, 16, 32));
            NDArray ctx = m.randomNormal(new Shape(2, 7, 32));
            float[] causal = new float[16 * 16];
            for (int i = 0; i < 16; i++) {
                for (int j = i + 1; j < 16; j++) {
                    causal[i * 16 + j] = Float.NEGATIVE_INFINITY;
                }
            }
            NDArray mask = m.create(causal, new Shape(16, 16));
            for (Object[] c : List.of(new Object[] {"self", self, null, null}, new Object[] {"cross", cross, ctx, null},
                    new Object[] {"CLIP masked", clip, null, mask})) {
                Attention a = (Attention) c[1];
                NDArray before = r.add(a.forward(x, (NDArray) c[2], (NDArray) c[3])); // the old structure's add
                NDArray now = a.forward(x, (NDArray) c[2], (NDArray) c[3], r);
                assertEquals(before.getShape(), now.getShape(), (String) c[0]);
                assertArrayEquals(values(before), values(now), (String) c[0]);
                NDArray alone = a.forward(x, (NDArray) c[2], (NDArray) c[3], null);
                assertArrayEquals(values(a.forward(x, (NDArray) c[2], (NDArray) c[3])), values(alone),
                        c[0] + ": no residual, the attention alone");
            }
        }
    }

    /** {on, off}: the same run with {@link NativeOps#ATTN_RESIDUAL} on and off, each on m. */
    private static NDArray[] onOff(Function<Boolean, NDArray> run) {
        NDArray[] out = new NDArray[2];
        try {
            NativeOps.ATTN_RESIDUAL.set(true);
            out[0] = run.apply(true);
            NativeOps.ATTN_RESIDUAL.set(false);
            out[1] = run.apply(false);
        } finally {
            NativeOps.ATTN_RESIDUAL.set(null);
        }
        return out;
    }

    private static void assertAgree(NDArray[] onOff, String what) {
        assertArrayEquals(onOff[1].getShape().getShape(), onOff[0].getShape().getShape(), what + " shape");
        float[] on = values(onOff[0]);
        float[] off = values(onOff[1]);
        double maxRef = 0;
        double maxDiff = 0;
        for (int i = 0; i < off.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(off[i]));
            double d = Math.abs((double) on[i] - off[i]);
            maxDiff = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(maxDiff, d);
        }
        double tol = TOLERANCE * Math.max(1, maxRef);
        assertTrue(maxDiff <= tol, what + ": on vs off max|Δ| = " + maxDiff + " > " + tol);
    }

    @Test
    void sd15UnetAndTextEncoderAgreeWithTheSwitchOnAndOff() {
        assumeFalse(NativeOps.enabled(), "the plain DJL path");
        List<String> cases = ReferenceData.names().stream().filter(n -> n.startsWith("unet") && n.endsWith(".out"))
                .map(n -> n.substring(0, n.length() - 4)).sorted().toList();
        assertFalse(cases.isEmpty());
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            for (String c : cases) {
                NDArray sample = ReferenceData.load(m, c + ".sample");
                NDArray t = ReferenceData.load(m, c + ".timestep");
                NDArray ctx = ReferenceData.load(m, c + ".context");
                NDArray[] out = onOff(on -> unet.forward(m, sample, t, ctx));
                assertAgree(out, c);
                ReferenceData.assertClose(ReferenceData.load(m, c + ".out"), out[0], c + " on");
                ReferenceData.assertClose(ReferenceData.load(m, c + ".out"), out[1], c + " off");
            }
            NDArray ids = ReferenceData.load(m, "text0.ids");
            NDArray[] text = onOff(on -> encoder.encode(m, ids));
            assertAgree(text, "text0");
            ReferenceData.assertClose(ReferenceData.load(m, "text0.last_hidden_state"), text[0], "text0 on");
        }
    }

    @Test
    void sdxlUnetAgreesWithTheSwitchOnAndOff() {
        assumeFalse(NativeOps.enabled(), "the plain DJL path");
        String model = "tiny-sdxl";
        List<String> cases = ReferenceData.names(model).stream().filter(n -> n.startsWith("unet") && n.endsWith(".out"))
                .map(n -> n.substring(0, n.length() - 4)).sorted().toList();
        assertFalse(cases.isEmpty());
        try (StableDiffusionPipeline pipeline = ModelLoader.load(TinySdxl.folderPath(), DataType.FLOAT32, Device.cpu());
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            UNet2DConditionModel xl = pipeline.models().unet();
            for (String c : cases) {
                NDArray sample = ReferenceData.load(m, model, c + ".sample");
                NDArray t = ReferenceData.load(m, model, c + ".timestep");
                Conditioning cond = new Conditioning(ReferenceData.load(m, model, c + ".context"),
                        ReferenceData.load(m, model, c + ".text_embeds"), ReferenceData.load(m, model, c + ".time_ids"));
                NDArray[] out = onOff(on -> xl.forward(m, sample, t, cond));
                assertAgree(out, "sdxl " + c);
                ReferenceData.assertClose(ReferenceData.load(m, model, c + ".out"), out[0], "sdxl " + c + " on");
                ReferenceData.assertClose(ReferenceData.load(m, model, c + ".out"), out[1], "sdxl " + c + " off");
            }
        }
    }
}
