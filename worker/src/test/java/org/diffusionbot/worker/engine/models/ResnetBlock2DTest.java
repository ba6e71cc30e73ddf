package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
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
     * Without the library (the CPU) a block gets no FP8 convolution weights, even asked for an fp16 CUDA model (FP8
     * convolutions are off: {@code NativeOps.fp8Conv()}), and never takes the FP8 path: the fp16 path runs unchanged.
     */
    @Test
    void withoutTheLibraryNoBlockTakesTheFp8Path() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x1 = m.randomNormal(new Shape(2, 64, 8, 8));
            NDArray x2 = m.randomNormal(new Shape(2, 32, 8, 8));
            assertFalse(NativeOps.fp8Conv(), "no native library in the tests");
            assertEquals(0, upResnet.prepareFp8(m, DataType.FLOAT16, Device.gpu()).size());
            assertEquals(0, midResnet.prepareFp8(m, DataType.FLOAT32, Device.cpu()).size());
            assertFalse(upResnet.hasFp8());
            assertFalse(upResnet.fp8Fits(x1, x2));
            assertFalse(midResnet.fp8Fits(x1, null));
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
