package org.diffusionbot.worker.engine.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.diffusionbot.worker.engine.models.AutoencoderKL;

/**
 * The last phase of a run: the final latents → images, as diffusers' {@code vae.decode(latents /
 * scaling_factor)} and {@code numpy_to_pil}. Rows are decoded in chunks of up to {@code decodeBatch}
 * (one VAE call and one copy to the host each); a row whose latents or image hold NaN/Inf fails its
 * request ({@link RequestResult.Reason#NUMERICAL}).
 */
final class LatentDecoder {
    private final AutoencoderKL vae;
    private final int decodeBatch;

    /**
     * @param vae the model's VAE
     * @param decodeBatch images per VAE call (1: least memory)
     */
    LatentDecoder(AutoencoderKL vae, int decodeBatch) {
        this.vae = vae;
        this.decodeBatch = decodeBatch;
    }

    /**
     * Decodes the rows whose request still runs and completes every request ({@link BatchRows#complete}).
     *
     * @param run owner of the run's arrays (each chunk's arrays are freed with it)
     * @param x the final latents (rows, C, h, w), float32
     */
    void decode(NDManager run, NDArray x, BatchRows rows) {
        double scaling = vae.config().scalingFactor();
        List<GenerationRequest> requests = rows.requests();
        int nReq = requests.size();
        RgbImage[][] images = new RgbImage[nReq][];
        boolean[] bad = new boolean[nReq];
        for (int r = 0; r < nReq; r++) {
            images[r] = new RgbImage[requests.get(r).seeds().size()];
        }
        List<Integer> todo = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            if (rows.wantsImage(i)) {
                todo.add(i);
            }
        }
        int per = (int) (x.getShape().size() / Math.max(1, x.getShape().get(0)));
        for (int c0 = 0; c0 < todo.size(); c0 += decodeBatch) {
            List<Integer> chunk = new ArrayList<>();
            try (NDManager s = run.newSubManager()) {
                NDList parts = new NDList();
                for (int i : todo.subList(c0, Math.min(todo.size(), c0 + decodeBatch))) {
                    chunk.add(i);
                    NDArray lat = x.get(i + ":" + (i + 1));
                    lat.attach(s);
                    parts.add(lat);
                }
                NDArray lat = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
                lat.attach(s);
                float[] lv = lat.toFloatArray();
                List<Integer> ok = new ArrayList<>();
                NDList good = new NDList();
                for (int k = 0; k < chunk.size(); k++) {
                    int i = chunk.get(k);
                    if (allFinite(lv, k * per, per)) {
                        ok.add(i);
                        good.add(parts.get(k));
                    } else {
                        bad[rows.requestOf(i)] = true;
                    }
                }
                if (ok.isEmpty()) {
                    continue;
                }
                NDArray in = (good.size() == parts.size() ? lat : NDArrays.concat(good, 0)).div((float) scaling)
                        .toType(vae.dtype(), false);
                Decoded dec = toImages(vae.decode(s, in));
                for (int k = 0; k < ok.size(); k++) {
                    int i = ok.get(k);
                    int r = rows.requestOf(i);
                    if (!dec.finite()[k]) {
                        bad[r] = true;
                        continue;
                    }
                    images[r][rows.imageOf(i)] = dec.images()[k];
                }
            }
        }
        rows.complete(images, bad);
    }

    /** One image of x0 estimates (a step's preview): the full VAE decode of row {@code row}. */
    RgbImage preview(NDManager scope, NDArray x0, int row) {
        try (NDManager m = scope.newSubManager()) {
            NDArray lat = x0.get(row + ":" + (row + 1));
            lat.attach(m);
            NDArray in = lat.div((float) vae.config().scalingFactor()).toType(vae.dtype(), false);
            return toImages(vae.decode(m, in)).images()[0];
        }
    }

    private static boolean allFinite(float[] v, int from, int n) {
        for (int k = from; k < from + n; k++) {
            if (!Float.isFinite(v[k])) {
                return false;
            }
        }
        return true;
    }

    /** Images of a decoder output, and per image whether all its values were finite. */
    record Decoded(RgbImage[] images, boolean[] finite) {
    }

    /**
     * Decoder output (B, 3, H, W) in [-1, 1] → round(255·clamp(v/2 + 0.5, 0, 1)) as interleaved 8-bit
     * RGB, as diffusers' numpy_to_pil, computed where the tensor lives: on a GPU only the bytes and one
     * float per image (max |v|, NaN and Inf propagate) come back, and the GPU is not left idle while
     * the host converts millions of floats.
     */
    static Decoded toImages(NDArray decoded) {
        Shape s = decoded.getShape();
        int b = (int) s.get(0);
        int h = (int) s.get(2);
        int w = (int) s.get(3);
        try (NDManager m = decoded.getManager().newSubManager()) {
            NDArray f = decoded.toType(DataType.FLOAT32, false);
            f.attach(m);
            NDArray rgb = f.div(2f).add(0.5f).clip(0f, 1f).mul(255f).round().toType(DataType.UINT8, false)
                    .transpose(0, 2, 3, 1);
            NDArray peak = f.abs().reshape(b, -1).max(new int[] {1});
            byte[] bytes = rgb.toByteArray();
            float[] peaks = peak.toFloatArray();
            int img = 3 * h * w;
            RgbImage[] images = new RgbImage[b];
            boolean[] finite = new boolean[b];
            for (int k = 0; k < b; k++) {
                images[k] = new RgbImage(w, h, Arrays.copyOfRange(bytes, k * img, (k + 1) * img));
                finite[k] = Float.isFinite(peaks[k]);
            }
            return new Decoded(images, finite);
        }
    }
}
