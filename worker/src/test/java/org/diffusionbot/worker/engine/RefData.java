package org.diffusionbot.worker.engine;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/** Test-only access to the reference data under {@code /reference/} (a minimal safetensors reader). */
public final class RefData {
    /** A float32 tensor: shape and row-major values. */
    public record Tensor(long[] shape, float[] data) {
        public int numel() {
            return data.length;
        }

        /** The i-th slice along the first dimension, as a tensor with that dimension dropped. */
        public Tensor slice(int i) {
            int n = data.length / (int) shape[0];
            float[] d = new float[n];
            System.arraycopy(data, i * n, d, 0, n);
            long[] s = new long[shape.length - 1];
            System.arraycopy(shape, 1, s, 0, s.length);
            return new Tensor(s, d);
        }
    }

    private static Map<String, Tensor> tiny;
    private static final Map<String, Map<String, Tensor>> BY_MODEL = new java.util.concurrent.ConcurrentHashMap<>();

    private RefData() {}

    public static byte[] bytes(String resource) {
        try (InputStream in = RefData.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource " + resource);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static JsonObject json(String resource) {
        try (InputStream in = RefData.class.getResourceAsStream(resource)) {
            return JsonParser.parseReader(new InputStreamReader(in, StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** All tensors of {@code tiny-sd15/reference.safetensors}, read once. */
    public static synchronized Map<String, Tensor> tinyReference() {
        if (tiny == null) {
            tiny = readSafetensors(bytes("/reference/tiny-sd15/reference.safetensors"));
        }
        return tiny;
    }

    /** A tensor of {@code /reference/<model>/reference.safetensors} (e.g. {@code tiny-sdxl}), the file read once. */
    public static Tensor tensor(String model, String name) {
        Tensor t = BY_MODEL.computeIfAbsent(model,
                m -> readSafetensors(bytes("/reference/" + m + "/reference.safetensors"))).get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor " + name + " in " + model);
        }
        return t;
    }

    /** A tensor of any reference safetensors file (resource path, e.g. {@code /reference/tiny-sd15/reference-samplers.safetensors}), the file read once. */
    public static Tensor tensorIn(String resource, String name) {
        Tensor t = BY_MODEL.computeIfAbsent(resource, r -> readSafetensors(bytes(r))).get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor " + name + " in " + resource);
        }
        return t;
    }

    public static Tensor tensor(String name) {
        Tensor t = tinyReference().get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor " + name);
        }
        return t;
    }

    static Map<String, Tensor> readSafetensors(byte[] file) {
        ByteBuffer buf = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int headerLen = (int) buf.getLong(0);
        String header = new String(file, 8, headerLen, StandardCharsets.UTF_8);
        JsonObject h = JsonParser.parseString(header).getAsJsonObject();
        Map<String, Tensor> out = new HashMap<>();
        for (String key : h.keySet()) {
            if (key.equals("__metadata__")) {
                continue;
            }
            JsonObject e = h.getAsJsonObject(key);
            if (!e.get("dtype").getAsString().equals("F32")) {
                throw new IllegalStateException(key + " is not F32");
            }
            long[] shape = new long[e.getAsJsonArray("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = e.getAsJsonArray("shape").get(i).getAsLong();
            }
            long start = e.getAsJsonArray("data_offsets").get(0).getAsLong();
            long end = e.getAsJsonArray("data_offsets").get(1).getAsLong();
            float[] data = new float[(int) ((end - start) / 4)];
            ByteBuffer slice = ByteBuffer.wrap(file, (int) (8 + headerLen + start), (int) (end - start))
                    .order(ByteOrder.LITTLE_ENDIAN);
            slice.asFloatBuffer().get(data);
            out.put(key, new Tensor(shape, data));
        }
        return out;
    }

    /**
     * The largest difference, in 8-bit levels, between an image and a reference image tensor.
     *
     * @param img the image made (its size must be the reference's)
     * @param ref the reference, shape (H, W, 3), values in [0, 1] (diffusers' {@code output_type="np"})
     * @return max over pixels and channels of |round(255 * ref) - pixel|
     * @throws IllegalArgumentException when the sizes differ
     */
    public static int worstLevel(java.awt.image.BufferedImage img, Tensor ref) {
        int h = (int) ref.shape()[0];
        int w = (int) ref.shape()[1];
        if (img.getWidth() != w || img.getHeight() != h) {
            throw new IllegalArgumentException("image " + img.getWidth() + "x" + img.getHeight() + ", reference " + w + "x" + h);
        }
        int worst = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = img.getRGB(x, y);
                int[] rgb = {(p >> 16) & 0xFF, (p >> 8) & 0xFF, p & 0xFF};
                for (int k = 0; k < 3; k++) {
                    int expected = (int) Math.rint(ref.data()[(y * w + x) * 3 + k] * 255f);
                    worst = Math.max(worst, Math.abs(expected - rgb[k]));
                }
            }
        }
        return worst;
    }

    /** max |a - b|. */
    public static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("length " + a.length + " != " + b.length);
        }
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }

    public static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
