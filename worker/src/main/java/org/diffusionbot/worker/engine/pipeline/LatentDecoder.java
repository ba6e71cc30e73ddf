package org.diffusionbot.worker.engine.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The last phase of a run: the final latents → images, as diffusers' {@code vae.decode(latents /
 * scaling_factor)} and {@code numpy_to_pil} ({@link VaeDecode}: on the device, through CUDA graphs where they are on).
 * Rows are decoded in chunks of up to {@code decodeBatch} (one VAE call each), all queued on the device before one
 * copy brings every image's bytes to the host; a row whose latents or image hold NaN/Inf fails its request ({@link
 * RequestResult.Reason#NUMERICAL}).
 */
final class LatentDecoder {
    private final VaeDecode vae;
    private final int decodeBatch;

    /**
     * @param vae the model's VAE decode
     * @param decodeBatch images per VAE call (1: least memory)
     */
    LatentDecoder(VaeDecode vae, int decodeBatch) {
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
        List<GenerationRequest> requests = rows.requests();
        int nReq = requests.size();
        RgbImage[][] images = new RgbImage[nReq][];
        boolean[] bad = new boolean[nReq];
        for (int r = 0; r < nReq; r++) {
            images[r] = new RgbImage[requests.get(r).seeds().size()];
        }
        int per = (int) (x.getShape().size() / Math.max(1, x.getShape().get(0)));
        float[] lv = x.toFloatArray(); // every row's latents at once: one copy to the host, not one per chunk
        List<Integer> todo = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            if (!rows.wantsImage(i)) {
                continue;
            }
            if (allFinite(lv, i * per, per)) {
                todo.add(i);
            } else {
                bad[rows.requestOf(i)] = true;
            }
        }
        // every chunk is decoded and turned into bytes on the device before anything comes back: the VAE calls
        // queue up behind each other (no synchronisation between them) and one copy brings all the images
        try (NDManager bytes = run.newSubManager()) {
            NDList rgb = new NDList();
            NDList peaks = new NDList();
            for (int c0 = 0; c0 < todo.size(); c0 += decodeBatch) {
                try (NDManager s = run.newSubManager()) {
                    NDList parts = new NDList();
                    for (int i : todo.subList(c0, Math.min(todo.size(), c0 + decodeBatch))) {
                        NDArray lat = x.get(i + ":" + (i + 1));
                        lat.attach(s);
                        parts.add(lat);
                    }
                    NDArray lat = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
                    VaeDecode.Bytes dev = vae.decode(s, lat);
                    // copied out (3·H·W bytes an image): a graph's outputs are overwritten by the next chunk's decode
                    NDArray img = dev.rgb().duplicate();
                    NDArray peak = dev.peak().duplicate();
                    img.attach(bytes);
                    peak.attach(bytes);
                    rgb.add(img);
                    peaks.add(peak);
                }
            }
            if (!todo.isEmpty()) {
                Decoded dec = toHost(rgb.size() == 1 ? rgb.get(0) : NDArrays.concat(rgb, 0),
                        peaks.size() == 1 ? peaks.get(0) : NDArrays.concat(peaks, 0));
                for (int k = 0; k < todo.size(); k++) {
                    int i = todo.get(k);
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

    /**
     * One image of x0 estimates (a step's preview): the full VAE decode of row {@code row}, the same call (and graph)
     * as a final decode of one row; its bytes are read on the host before this returns.
     */
    RgbImage preview(NDManager scope, NDArray x0, int row) {
        try (NDManager m = scope.newSubManager()) {
            NDArray lat = x0.get(row + ":" + (row + 1));
            lat.attach(m);
            VaeDecode.Bytes dev = vae.decode(m, lat);
            return toHost(dev.rgb(), dev.peak()).images()[0];
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
     * Decoder output (B, 3, H, W) in [-1, 1] → round(255·clamp(v/2 + 0.5, 0, 1)) as interleaved 8-bit RGB, as
     * diffusers' numpy_to_pil ({@link VaeDecode#toBytes}, where the tensor lives), and per image whether all its
     * values were finite.
     */
    static Decoded toImages(NDArray decoded) {
        try (NDManager m = decoded.getManager().newSubManager()) {
            NDArray[] dev = VaeDecode.toBytes(decoded);
            for (NDArray a : dev) {
                a.attach(m);
            }
            return toHost(dev[0], dev[1]);
        }
    }

    /** The host half of {@link #toImages}: one copy of the bytes, one of the peaks (both read before it returns). */
    private static Decoded toHost(NDArray rgb, NDArray peak) {
        Shape s = rgb.getShape();
        int b = (int) s.get(0);
        int h = (int) s.get(1);
        int w = (int) s.get(2);
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
