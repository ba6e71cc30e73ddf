package org.diffusionbot.worker.doctor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.diffusionbot.worker.engine.pipeline.RequestResult;
import org.diffusionbot.worker.engine.pipeline.RgbImage;

/**
 * How far 8-bit images of one device (CUDA fp16) are from those of another (CPU fp32) for the same requests: the
 * worst mean and maximum absolute difference per channel value (of 255) and the worst PSNR over the images.
 * Used by {@code worker.jar doctor} and {@code bench --check}.
 *
 * @param meanAbs mean |difference| of the worst image, in 1/255 units
 * @param maxAbs  largest |difference| of any channel value
 * @param psnr    lowest PSNR in dB (99 for identical images)
 */
public record ImageDiff(double meanAbs, int maxAbs, double psnr) {

    /**
     * The worst figures over pairs of images of the same sizes.
     *
     * @throws IllegalArgumentException when the lists or an image pair differ in size
     */
    public static ImageDiff worst(List<RgbImage> ref, List<RgbImage> got) {
        if (ref.size() != got.size()) {
            throw new IllegalArgumentException(ref.size() + " reference images, " + got.size() + " to compare");
        }
        double worstMean = 0;
        int worstMax = 0;
        double worstPsnr = 99;
        for (int i = 0; i < ref.size(); i++) {
            byte[] a = ref.get(i).rgb();
            byte[] g = got.get(i).rgb();
            if (a.length != g.length) {
                throw new IllegalArgumentException("image " + i + " differs in size");
            }
            long sum = 0;
            double sq = 0;
            int max = 0;
            for (int k = 0; k < a.length; k++) {
                int d = Math.abs((a[k] & 0xff) - (g[k] & 0xff));
                sum += d;
                sq += (double) d * d;
                max = Math.max(max, d);
            }
            double mse = sq / a.length;
            worstMean = Math.max(worstMean, (double) sum / a.length);
            worstMax = Math.max(worstMax, max);
            worstPsnr = Math.min(worstPsnr, mse == 0 ? 99 : 10 * Math.log10(255.0 * 255.0 / mse));
        }
        return new ImageDiff(worstMean, worstMax, worstPsnr);
    }

    /** The images of successful results, in order; a failed result is an error. */
    public static List<RgbImage> images(List<RequestResult> results) {
        List<RgbImage> all = new ArrayList<>();
        for (RequestResult r : results) {
            if (!(r instanceof RequestResult.Success s)) {
                throw new IllegalStateException("generation failed: " + r);
            }
            all.addAll(s.images());
        }
        return all;
    }

    /** Within what fp16 rounding explains: mean at most 1.5/255 and PSNR at least 35 dB. */
    public boolean passes() {
        return meanAbs <= 1.5 && psnr >= 35;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "mean |diff| %.3f /255, max %d /255, PSNR %.1f dB -> %s", meanAbs, maxAbs, psnr,
                passes() ? "PASS" : "FAIL");
    }
}
