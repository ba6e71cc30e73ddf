package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.io.Weights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An up block's ResNet block on its two input parts (the previous block's output and a skip connection): where the
 * native kernels do not read the parts in place (here: the CPU, no native library) it concatenates them, so the result
 * is the concatenation's, bit for bit. (The in-place path on CUDA is checked by {@code KernelSelfCheck}'s
 * catGroupNorm and catConv1x1 cases.)
 */
class ResnetBlock2DTest {
    private static NDManager models;
    /** The tiny UNet's up_blocks.3.resnets.0: 64 + 32 channels in, 32 out, so it has a conv_shortcut. */
    private static ResnetBlock2D upResnet;
    /** Its mid_block.resnets.0: 64 in, 64 out, no conv_shortcut. */
    private static ResnetBlock2D midResnet;
    private static UNetConfig config;

    @BeforeAll
    static void load() {
        models = NDManager.newBaseManager(Device.cpu());
        config = UNetConfig.load(ReferenceData.modelDir().resolve("unet/config.json"));
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            Params p = new Params(w, models, DataType.FLOAT32, Device.cpu());
            int temb = config.timeEmbeddingDim();
            upResnet = new ResnetBlock2D(p, "up_blocks.3.resnets.0", 64 + 32, 32, temb, config.normNumGroups(),
                    config.normEps(), 1.0);
            midResnet = new ResnetBlock2D(p, "mid_block.resnets.0", 64, 64, temb, config.normNumGroups(),
                    config.normEps(), 1.0);
        }
    }

    @AfterAll
    static void close() {
        models.close();
    }

    @Test
    void theCpuTakesTheConcatenation() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x1 = m.randomNormal(new Shape(2, 64, 8, 8));
            NDArray x2 = m.randomNormal(new Shape(2, 32, 8, 8));
            assertFalse(NativeOps.upblockNoCat(), "no native library in the tests");
            assertFalse(NativeOps.catPartsFit(x1, x2, config.normNumGroups()));
            assertFalse(upResnet.readsParts(x1, x2));
            assertFalse(midResnet.readsParts(x1, x1), "a block without conv_shortcut never takes two parts");
        }
    }

    /**
     * A block loaded for the CPU (NCHW float32 weights) gets no FP8 convolution weights, even asked for an fp16 CUDA model
     * (the companions need channels-last weights; without the library FP8 convolutions are off too), and never takes the
     * FP8 path: the fp16 path runs unchanged. Whether or not the native library is loaded.
     */
    @Test
    void aCpuBlockTakesNoFp8Path() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x1 = m.randomNormal(new Shape(2, 64, 8, 8));
            NDArray x2 = m.randomNormal(new Shape(2, 32, 8, 8));
            assertEquals(0, upResnet.prepareFp8(m, DataType.FLOAT16, Device.gpu()).size());
            assertEquals(0, midResnet.prepareFp8(m, DataType.FLOAT32, Device.cpu()).size());
            assertFalse(upResnet.hasFp8());
            assertFalse(upResnet.fp8Fits(x1, x2));
            assertFalse(midResnet.fp8Fits(x1, null));
        }
    }

    /** A fresh copy of the tiny UNet's up_blocks.3.resnets.0 (96 -> 32, conv_shortcut) and its parameters, in m. */
    private static ResnetBlock2D freshUpResnet(NDManager m, NamedParameters[] named) {
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            Params p = new Params(w, m, DataType.FLOAT32, Device.cpu());
            ResnetBlock2D r = new ResnetBlock2D(p, "up_blocks.3.resnets.0", 64 + 32, 32, config.timeEmbeddingDim(),
                    config.normNumGroups(), config.normEps(), 1.0);
            named[0] = p.named();
            return r;
        }
    }

    /** A CPU stand-in for the quantiser (the real one needs the library): descale[k] = amax|W[k]|, w8 untouched. */
    private static void amaxWriter(NDArray w, NDArray w8, NDArray descale) {
        long k = w.getShape().get(0);
        NDArray amax = w.abs().reshape(k, -1).max(new int[] {1}).toType(DataType.FLOAT32, false);
        descale.muli(0).addi(amax);
    }

    /**
     * prepareFp8's decision: companions for conv1 and conv2 exactly where {@code fits} says so (asked for both convolutions'
     * channels), none twice; the UNet's refresh of a block (refreshFp8) after a LoRA-like in-place change of conv1's
     * weight rewrites conv1's companion from the new weight (conv2's stays as it was).
     */
    @Test
    void prepareFp8MakesCompanionsWhereTheyFitAndRefreshFollowsTheWeights() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NamedParameters[] named = new NamedParameters[1];
            ResnetBlock2D block = freshUpResnet(m, named);
            List<long[]> asked = new ArrayList<>();
            assertEquals(List.of(), block.prepareFp8(m, (in, out) -> {
                asked.add(new long[] {in, out});
                return false;
            }, ResnetBlock2DTest::amaxWriter));
            assertFalse(block.hasFp8());
            assertArrayEquals(new long[] {96, 32}, asked.get(0), "conv1's channels asked first");

            List<Fp8Conv> made = block.prepareFp8(m, (in, out) -> true, ResnetBlock2DTest::amaxWriter);
            assertEquals(2, made.size());
            assertTrue(block.hasFp8());
            assertEquals(List.of(), block.prepareFp8(m, (in, out) -> true, ResnetBlock2DTest::amaxWriter),
                    "a block keeps the companions it has");
            Parameter w1 = named[0].get("up_blocks.3.resnets.0.conv1.weight");
            NDArray before = made.get(0).descale.duplicate();
            NDArray conv2Before = made.get(1).descale.duplicate();
            assertArrayEquals(w1.value(m).abs().reshape(32, -1).max(new int[] {1}).toFloatArray(),
                    before.toFloatArray(), 0f);

            w1.add(m.ones(w1.shape()).mul(10)); // a LoRA-like change, in place: amax|W[k]| grows by 10
            block.refreshFp8();
            float[] now = made.get(0).descale.toFloatArray();
            assertArrayEquals(w1.value(m).abs().reshape(32, -1).max(new int[] {1}).toFloatArray(), now, 0f);
            float[] old = before.toFloatArray();
            for (int k = 0; k < now.length; k++) {
                assertTrue(now[k] > old[k] + 9, "conv1's companion rewritten from the new weight");
            }
            assertArrayEquals(conv2Before.toFloatArray(), made.get(1).descale.toFloatArray(), 0f);
        }
    }

    /** Where making conv2's companion throws, conv1's buffers are freed and the block keeps none. */
    @Test
    void aFailedSecondCompanionLeavesNone() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            ResnetBlock2D block = freshUpResnet(m, new NamedParameters[1]);
            List<NDArray> written = new ArrayList<>();
            Fp8Conv.Writer failing = (w, w8, d) -> {
                if (!written.isEmpty()) {
                    throw new IllegalStateException("out of memory");
                }
                written.add(w8);
                written.add(d);
            };
            assertThrows(IllegalStateException.class, () -> block.prepareFp8(m, (in, out) -> true, failing));
            assertFalse(block.hasFp8());
            assertEquals(2, written.size());
            assertTrue(written.get(0).isReleased(), "conv1's e4m3 weight freed");
            assertTrue(written.get(1).isReleased(), "conv1's descale freed");
        }
    }

    @Test
    void twoPartsGiveTheConcatenationsResult() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x1 = m.randomNormal(new Shape(2, 64, 8, 8));
            NDArray x2 = m.randomNormal(new Shape(2, 32, 8, 8));
            NDArray temb = m.randomNormal(new Shape(2, config.timeEmbeddingDim()));
            NDArray parts = upResnet.forward(x1, x2, temb);
            NDArray cat = upResnet.forward(x1.concat(x2, 1), temb);
            assertEquals(new Shape(2, 32, 8, 8), parts.getShape());
            assertArrayEquals(cat.toFloatArray(), parts.toFloatArray(), 0f);
            assertEquals(m, parts.getManager(), "the result is attached to x1's manager");
            assertEquals(m, x2.getManager(), "the inputs stay with their manager");
        }
    }

    /**
     * A block handed its time projection (the UNet's one call for all blocks: NativeOps.timeProjections) gives what it
     * gives projecting the time embedding itself, on one input and on two parts; a (1, out) projection is broadcast over
     * the samples as one time embedding for the batch.
     */
    @Test
    void aGivenTimeProjectionGivesTheBlocksOwnResult() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x1 = m.randomNormal(new Shape(2, 64, 8, 8));
            NDArray x2 = m.randomNormal(new Shape(2, 32, 8, 8));
            NDArray temb = m.randomNormal(new Shape(2, config.timeEmbeddingDim()));
            NDArray t = upResnet.timeProj().forward(temb);
            assertEquals(new Shape(2, 32), t.getShape());
            assertArrayEquals(upResnet.forward(x1, x2, temb).toFloatArray(),
                    upResnet.forward(x1, x2, null, t).toFloatArray(), 0f);
            NDArray tMid = midResnet.timeProj().forward(temb);
            assertArrayEquals(midResnet.forward(x1, temb).toFloatArray(),
                    midResnet.forward(x1, null, null, tMid).toFloatArray(), 0f);

            NDArray one = midResnet.timeProj().forward(temb.get("0:1")); // (1, out): one timestep for the batch
            assertArrayEquals(midResnet.forward(x1, null, null, one.repeat(0, 2)).toFloatArray(),
                    midResnet.forward(x1, null, null, one).toFloatArray(), 0f);
            assertEquals(m, t.getManager(), "the projection stays with its manager");
        }
    }
}
