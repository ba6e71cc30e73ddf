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
import org.junit.jupiter.api.Test;

/**
 * {@link Ops#upsampleNearest} (Upsample2D's one call site, UNet and VAE decoder) dispatches to the native library only
 * when it is in use; without it (CPU, CI) or with native ops turned off it gives DJL's interpolation bit for bit:
 * y[b, c, i, j] = x[b, c, i / 2, j / 2] for an exact 2x, and PyTorch's nearest for other sizes (the UNet's odd skip
 * sizes). The native kernel itself is checked against the same op on the GPU (KernelSelfCheck's upsample cases).
 */
class UpsampleNearestTest {
    private static float[] values(NDArray a) {
        return a.toType(DataType.FLOAT32, false).reshape(-1).toFloatArray();
    }

    private static NDArray djl(NDArray x, long h, long w) {
        return x.getNDArrayInternal().interpolation(new long[] {h, w}, 0, false);
    }

    @Test
    void withoutTheLibraryTwoXIsDjlsInterpolationAndEachPixelCopiedFourTimes() {
        boolean before = NativeOps.enabled();
        NativeOps.setEnabled(false); // native ops off: the DJL path, whether or not the library is loaded
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            assertFalse(NativeOps.upsampleNearest());
            for (DataType type : new DataType[] {DataType.FLOAT32, DataType.FLOAT16}) {
                long b = 2;
                long c = 3;
                int h = 4;
                int w = 5;
                NDArray x = m.randomNormal(new Shape(b, c, h, w)).toType(type, false);
                NDArray y = Ops.upsampleNearest(x, 2L * h, 2L * w);
                assertEquals(new Shape(b, c, 2L * h, 2L * w), y.getShape());
                assertEquals(type, y.getDataType());
                assertArrayEquals(values(djl(x, 2L * h, 2L * w)), values(y), type.toString());
                float[] xs = values(x);
                float[] ys = values(y);
                for (int p = 0; p < b * c; p++) {
                    for (int i = 0; i < 2 * h; i++) {
                        for (int j = 0; j < 2 * w; j++) {
                            assertEquals(xs[(p * h + i / 2) * w + j / 2], ys[(p * 2 * h + i) * 2 * w + j],
                                    "plane " + p + " pixel " + i + "," + j);
                        }
                    }
                }
            }
        } finally {
            NativeOps.setEnabled(before);
        }
    }

    @Test
    void otherSizesAreDjlsInterpolation() {
        boolean before = NativeOps.enabled();
        NativeOps.setEnabled(false);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = m.randomNormal(new Shape(1, 8, 5, 5));
            for (long[] size : new long[][] {{9, 9}, {15, 15}, {10, 9}}) { // odd skip sizes, 3x, 2x in one dimension only
                NDArray y = Ops.upsampleNearest(x, size[0], size[1]);
                assertEquals(new Shape(1, 8, size[0], size[1]), y.getShape());
                assertArrayEquals(values(djl(x, size[0], size[1])), values(y), size[0] + "x" + size[1]);
            }
        } finally {
            NativeOps.setEnabled(before);
        }
    }
}
