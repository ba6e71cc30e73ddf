package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Set;
import org.diffusionbot.worker.engine.io.SafetensorsFile;

/** Access to the diffusers reference tensors and the tiny models (SD 1.5 unless named) in the test resources. */
public final class ReferenceData {
    private ReferenceData() {}

    public static Path root() {
        return root("tiny-sd15");
    }

    /** @param model {@code tiny-sd15} or {@code tiny-sdxl} */
    public static Path root(String model) {
        try {
            return Path.of(ReferenceData.class.getResource("/reference/" + model).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static Path modelDir() {
        return root().resolve("model");
    }

    public static Set<String> names() {
        return names("tiny-sd15");
    }

    public static Set<String> names(String model) {
        try (SafetensorsFile f = SafetensorsFile.open(root(model).resolve("reference.safetensors"))) {
            return f.tensors().keySet();
        }
    }

    public static NDArray load(NDManager m, String name) {
        return load(m, "tiny-sd15", name);
    }

    public static NDArray load(NDManager m, String model, String name) {
        try (SafetensorsFile f = SafetensorsFile.open(root(model).resolve("reference.safetensors"))) {
            if (f.tensor(name) == null) {
                throw new IllegalArgumentException("no reference tensor " + name);
            }
            return f.tensor(name).toNDArray(m, DataType.FLOAT32, Device.cpu());
        }
    }

    /** max|Δ| ≤ 1e-4·max(1, max|ref|), shapes equal. */
    public static void assertClose(NDArray expected, NDArray actual, String what) {
        assertArrayEquals(expected.getShape().getShape(), actual.getShape().getShape(), what + " shape");
        float[] e = expected.toType(DataType.FLOAT32, false).toFloatArray();
        float[] a = actual.toType(DataType.FLOAT32, false).toFloatArray();
        double maxRef = 0;
        double maxDiff = 0;
        for (int i = 0; i < e.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(e[i]));
            double d = Math.abs((double) e[i] - a[i]);
            if (!(d <= maxDiff)) {
                maxDiff = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d;
            }
        }
        double tol = 1e-4 * Math.max(1, maxRef);
        assertTrue(maxDiff <= tol, what + ": max|Δ| = " + maxDiff + " > " + tol + " (max|ref| = " + maxRef + ")");
    }
}
