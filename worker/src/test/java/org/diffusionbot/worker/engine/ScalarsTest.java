package org.diffusionbot.worker.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;

/** {@link Scalars} computes what DJL's Number overloads compute (values, NaN, result type), without device copies. */
class ScalarsTest {
    @Test
    void clipMatchesDjlsClipIncludingNaNAndBounds() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {-2f, -0f, 0.25f, 1f, 7.5f, Float.NaN, Float.NEGATIVE_INFINITY,
                Float.POSITIVE_INFINITY});
            NDArray ours = Scalars.clip(x, 0f, 1f);
            NDArray djl = x.clip(0f, 1f);
            // equal values (delta 0: -0.0 may stay -0.0 where clamp writes 0.0, which the byte conversion cannot tell)
            assertArrayEquals(djl.toFloatArray(), ours.toFloatArray(), 0f);
            assertArrayEquals(new float[] {0f, 0f, 0.25f, 1f, 1f, Float.NaN, 0f, 1f}, ours.toFloatArray(), 0f);
            assertEquals(DataType.FLOAT32, ours.getDataType());
            assertEquals(x.getManager(), ours.getManager());
        }
    }

    @Test
    void clipWithIntegerBoundsKeepsTheArraysFloatType() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {-3.5f, 12.5f, 300f}).toType(DataType.FLOAT16, false);
            NDArray ours = Scalars.clip(x, 0, 255);
            assertEquals(DataType.FLOAT16, ours.getDataType());
            assertArrayEquals(new float[] {0f, 12.5f, 255f}, ours.toType(DataType.FLOAT32, false).toFloatArray());
        }
    }

    @Test
    void minimumMatchesDjlsMinimum() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {-1f, 0.5f, 2f, Float.NaN});
            assertArrayEquals(x.minimum(0.75f).toFloatArray(), Scalars.minimum(x, 0.75f).toFloatArray());
        }
    }
}
