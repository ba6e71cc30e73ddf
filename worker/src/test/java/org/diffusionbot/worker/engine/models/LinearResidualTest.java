package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.junit.jupiter.api.Test;

/**
 * The call sites that hand a linear layer's residual add to the native library ({@link LinearLayer#forwardAdd}: the
 * transformer blocks' ff.net.2, SD 2.x/SDXL's proj_out, CLIP's fc2) give, without the library (plain DJL on the CPU),
 * bit for bit what they computed before: the product, then the add.
 */
class LinearResidualTest {
    /** The values in logical (row-major) order, whatever the array's strides. */
    private static float[] values(NDArray a) {
        return a.reshape(-1).toFloatArray();
    }

    private static LinearLayer layer(NDManager m, int in, int out, boolean bias) {
        return new LinearLayer(m.randomNormal(new Shape(out, in)), bias ? m.randomNormal(new Shape(out)) : null);
    }

    @Test
    void feedForwardAndClipResidualsAreTheProductPlusTheResidual() {
        assumeFalse(NativeOps.enabled(), "the plain DJL path");
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            for (boolean bias : new boolean[] {true, false}) {
                LinearLayer ff = layer(m, 48, 12, bias);
                NDArray h = m.randomNormal(new Shape(2, 7, 48));
                NDArray x = m.randomNormal(new Shape(2, 7, 12));
                NDArray before = x.add(ff.forward(h)); // Transformer2D's and ClipEncoderLayer's add before forwardAdd
                NDArray now = ff.forwardAdd(h, x);
                assertEquals(before.getShape(), now.getShape());
                assertArrayEquals(values(before), values(now), "bias " + bias);
            }
        }
    }

    @Test
    void linearProjOutWithTheBlockInputIsUnchanged() {
        assumeFalse(NativeOps.enabled(), "the plain DJL path");
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            long b = 2;
            int c = 16;
            long h = 3;
            long w = 5;
            LinearLayer projOut = layer(m, c, c, true);
            NDArray x = m.randomNormal(new Shape(b, c, h, w)); // the Transformer2D's input, the residual
            NDArray y = m.randomNormal(new Shape(b, h * w, c)); // the last block's output
            // before: proj_out, back to (B, C, H, W), + x
            NDArray before = projOut.forward(y).transpose(0, 2, 1).reshape(b, c, h, w).add(x);
            // now (Transformer2D.run): proj_out + x as (B, HW, C) rows, then back to (B, C, H, W)
            NDArray residual = x.reshape(b, c, h * w).transpose(0, 2, 1);
            NDArray now = projOut.forwardAdd(y, residual).transpose(0, 2, 1).reshape(b, c, h, w);
            assertEquals(before.getShape(), now.getShape());
            assertArrayEquals(values(before), values(now));
        }
    }
}
