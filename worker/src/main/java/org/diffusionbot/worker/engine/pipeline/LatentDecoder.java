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
 * The rows to decode go to the VAE in chunks ({@link #chunkSizes}: up to {@link #imagesPerCall} images a call), all
 * queued on the device before one copy brings every image's bytes to the host; a row whose latents or image hold
 * NaN/Inf fails its request ({@link RequestResult.Reason#NUMERICAL}), the other requests keep their images.
 *
 * <p>A chunk's images are the ones each row gives decoded alone: the decoder has no operation across samples (its
 * GroupNorms and attention are per sample), so only the convolution algorithm picked for another batch size can
 * change a value, by rounding.
 */
final class LatentDecoder {
    /** The decoder memory one image of {@link #imagesPerCall}'s budget stands for: 64x64 float16 latents (512x512). */
    static final long BUDGET_UNIT_BYTES = 64L * 64 * 2;

    private final VaeDecode vae;
    private final int decodeBatch;

    /**
     * @param vae the model's VAE decode
     * @param decodeBatch images per VAE call at most ({@link PipelineOptions#decodeBatch()}; 1: one at a time, the
     *     least memory)
     * @throws IllegalArgumentException for {@code decodeBatch} below 1
     */
    LatentDecoder(VaeDecode vae, int decodeBatch) {
        if (decodeBatch < 1) {
            throw new IllegalArgumentException("decodeBatch must be at least 1: " + decodeBatch);
        }
        this.vae = vae;
        this.decodeBatch = decodeBatch;
    }

    /**
     * Images per VAE call for latents of this size and type: {@code decodeBatch}, but no more latent pixels times
     * element size than {@code decodeBatch} 512x512 images in float16 have (64x64 latents of 2 bytes: {@link
     * #BUDGET_UNIT_BYTES} each; the decoder's activations grow with both), and at least 1. SD 1.5 at 512x512
     * (float16): {@code decodeBatch}; at 768x768: 1 with {@code decodeBatch} 4; SDXL at 1024x1024 with its float32
     * VAE (8 units an image): 1 for any {@code decodeBatch} up to 15, so its peak memory stays that of one decode.
     *
     * @param decodeBatch images per call at most, at least 1
     * @param latentHeight latent rows (image height / 8)
     * @param latentWidth latent columns
     * @param bytesPerValue the decoder's element size (2: float16, 4: float32)
     * @return images per call, 1 to {@code decodeBatch}
     */
    static int imagesPerCall(int decodeBatch, long latentHeight, long latentWidth, int bytesPerValue) {
        long perImage = Math.max(1, latentHeight * latentWidth * bytesPerValue);
        return (int) Math.max(1, Math.min(decodeBatch, decodeBatch * BUDGET_UNIT_BYTES / perImage));
    }

    /**
     * How {@code n} images are split into VAE calls of at most {@code perCall}: calls of {@code perCall} while that
     * many are left, then the rest in powers of two, largest first (7 with 4 a call: 4, 2, 1). So the decoder sees at
     * most {@code perCall} and the powers of two below it as batch sizes, one CUDA graph each: with 4 ({@code SD_DECODE_BATCH=4}),
     * three shapes (4, 2, 1), which {@code SD_CUDA_GRAPHS_MAX}'s default 3 keeps without recapturing as batch sizes
     * vary (1 is also the full previews' shape).
     *
     * @param n images to decode, 0 or more
     * @param perCall images per call at most, at least 1
     * @return the calls' sizes, summing to {@code n}
     */
    static int[] chunkSizes(int n, int perCall) {
        List<Integer> sizes = new ArrayList<>();
        for (int left = n; left > 0; left -= sizes.get(sizes.size() - 1)) {
            sizes.add(left >= perCall ? perCall : Integer.highestOneBit(left));
        }
        return sizes.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Decodes the rows whose request still runs and completes every request ({@link BatchRows#complete}).
     *
     * @param run owner of the run's arrays (each chunk's arrays are freed with it)
     * @param x the final latents (rows, C, h, w), float32; row i is {@code rows}' row i
     * @param rows the run's rows: which request and image each row is, and which still want their image
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
        Shape shape = x.getShape();
        int perCall = imagesPerCall(decodeBatch, shape.get(2), shape.get(3), vae.vae().dtype().getNumOfBytes());
        try (NDManager bytes = run.newSubManager()) {
            NDList rgb = new NDList();
            NDList peaks = new NDList();
            int c0 = 0;
            for (int size : chunkSizes(todo.size(), perCall)) {
                try (NDManager s = run.newSubManager()) {
                    NDList parts = new NDList();
                    for (int i : todo.subList(c0, c0 + size)) {
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
                c0 += size;
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
