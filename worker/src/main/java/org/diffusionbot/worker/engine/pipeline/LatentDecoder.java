package org.diffusionbot.worker.engine.pipeline;

import static org.diffusionbot.worker.engine.Scalars.add;
import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.models.AutoencoderKL;

/**
 * The last phase of a run: the final latents → images, as diffusers' {@code vae.decode(latents /
 * scaling_factor)} and {@code numpy_to_pil}. Rows are decoded in chunks of up to {@code decodeBatch}
 * (one VAE call each), all queued on the device before one copy brings every image's bytes to the host;
 * a row whose latents or image hold NaN/Inf fails its request ({@link RequestResult.Reason#NUMERICAL}).
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
                    NDArray[] dev = onDevice(vae.decode(s, div(lat, (float) scaling).toType(vae.dtype(), false)));
                    for (NDArray a : dev) {
                        a.attach(bytes);
                    }
                    rgb.add(dev[0]);
                    peaks.add(dev[1]);
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

    /** One image of x0 estimates (a step's preview): the full VAE decode of row {@code row}. */
    RgbImage preview(NDManager scope, NDArray x0, int row) {
        try (NDManager m = scope.newSubManager()) {
            NDArray lat = x0.get(row + ":" + (row + 1));
            lat.attach(m);
            NDArray in = div(lat, (float) vae.config().scalingFactor()).toType(vae.dtype(), false);
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
        try (NDManager m = decoded.getManager().newSubManager()) {
            NDArray[] dev = onDevice(decoded);
            for (NDArray a : dev) {
                a.attach(m);
            }
            return toHost(dev[0], dev[1]);
        }
    }

    /**
     * The device half of {@link #toImages}: (B, H, W, 3) uint8 and (B) max |v|, both owned by the decoder
     * output's manager.
     */
    private static NDArray[] onDevice(NDArray decoded) {
        int b = (int) decoded.getShape().get(0);
        NDManager owner = decoded.getManager();
        try (NDManager m = owner.newSubManager()) {
            // a float32 output is its own float32 view (toType without copy): then it must stay with its owner
            NDArray f = decoded.toType(DataType.FLOAT32, false);
            if (f != decoded) {
                f.attach(m);
            }
            NDArray rgb = mul(add(div(f, 2f), 0.5f).clip(0f, 1f), 255f).round().toType(DataType.UINT8, false)
                    .transpose(0, 2, 3, 1);
            if (NativeOps.enabled() && rgb.getDevice().isGpu()) {
                // HWC order made on the device: DJL's host copy of the strided view copies it as it is and then
                // reorders it on the host, one thread (4 ms for a 1024x1024 image on the H200's host)
                rgb = NativeOps.wrap(rgb, NativeOps.contiguous(NativeOps.h(rgb)));
            }
            NDArray peak = f.abs().reshape(b, -1).max(new int[] {1});
            rgb.attach(owner);
            peak.attach(owner);
            return new NDArray[] {rgb, peak};
        }
    }

    /** The host half of {@link #toImages}: one copy of the bytes, one of the peaks. */
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
