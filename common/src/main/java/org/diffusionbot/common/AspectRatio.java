package org.diffusionbot.common;

import java.util.Locale;

/**
 * The {@code ar} option of {@code /imagine}: a standard aspect ratio, turned into the model's
 * bucket for it, the size finetunes are trained at. A bucket has sides that are multiples of 64,
 * at most the model's native pixel count, its ratio within 4% of the asked one, and the most pixels
 * among those (ties: the closest ratio); a toy native size with no such size gets the closest ratio that
 * fits. For SDXL (1024×1024) this gives SDXL's standard buckets:
 * 1024×1024, 1216×832 (3:2), 1152×896 (4:3), 1344×768 (16:9), 1536×640 (21:9) and their portraits.
 */
public enum AspectRatio {
    SQUARE("1:1", 1, 1),
    LANDSCAPE_3_2("3:2", 3, 2),
    PORTRAIT_2_3("2:3", 2, 3),
    LANDSCAPE_4_3("4:3", 4, 3),
    PORTRAIT_3_4("3:4", 3, 4),
    WIDE_16_9("16:9", 16, 9),
    TALL_9_16("9:16", 9, 16),
    ULTRAWIDE_21_9("21:9", 21, 9);

    /** Bucket sides are multiples of this. */
    public static final int BUCKET_MULTIPLE = 64;
    private static final double TOLERANCE = 0.04;

    private final String id;
    private final int w;
    private final int h;

    AspectRatio(String id, int w, int h) {
        this.id = id;
        this.w = w;
        this.h = h;
    }

    /** e.g. {@code 16:9}. */
    public String id() {
        return id;
    }

    /**
     * The bucket for a model of this native size.
     *
     * @param nativeWidth the model's native width (e.g. 1024)
     * @param nativeHeight the model's native height
     * @return {width, height}
     */
    public int[] bucket(int nativeWidth, int nativeHeight) {
        long budget = (long) nativeWidth * nativeHeight;
        double ratio = (double) w / h;
        int[] best = null;
        long bestArea = -1;
        double bestErr = Double.MAX_VALUE;
        for (int bh = BUCKET_MULTIPLE; (long) bh * BUCKET_MULTIPLE <= budget; bh += BUCKET_MULTIPLE) {
            int bw = (int) Math.round(bh * ratio / BUCKET_MULTIPLE) * BUCKET_MULTIPLE;
            for (int cw : new int[] {bw - BUCKET_MULTIPLE, bw, bw + BUCKET_MULTIPLE}) {
                long area = (long) cw * bh;
                double err = Math.abs((double) cw / bh / ratio - 1);
                if (cw < BUCKET_MULTIPLE || area > budget || err > TOLERANCE
                        || cw > GenerationLimits.MAX_SIZE || bh > GenerationLimits.MAX_SIZE) {
                    continue;
                }
                if (area > bestArea || (area == bestArea && err < bestErr)) {
                    best = new int[] {cw, bh};
                    bestArea = area;
                    bestErr = err;
                }
            }
        }
        return best != null ? best : closest(budget, ratio);
    }

    /** A toy native size with no bucket within the tolerance: the closest ratio that fits (ties: more pixels). */
    private static int[] closest(long budget, double ratio) {
        int[] best = {BUCKET_MULTIPLE, BUCKET_MULTIPLE};
        double bestErr = Double.MAX_VALUE;
        for (int bh = BUCKET_MULTIPLE; (long) bh * BUCKET_MULTIPLE <= budget; bh += BUCKET_MULTIPLE) {
            for (int bw = BUCKET_MULTIPLE; (long) bw * bh <= budget && bw <= GenerationLimits.MAX_SIZE;
                    bw += BUCKET_MULTIPLE) {
                double err = Math.abs(Math.log((double) bw / bh / ratio));
                if (err < bestErr - 1e-12 || (Math.abs(err - bestErr) <= 1e-12 && (long) bw * bh > (long) best[0] * best[1])) {
                    best = new int[] {bw, bh};
                    bestErr = err;
                }
            }
        }
        return best;
    }

    /** @throws IllegalArgumentException naming the accepted ratios */
    public static AspectRatio fromId(String id) {
        String s = id.trim().toLowerCase(Locale.ROOT);
        for (AspectRatio r : values()) {
            if (r.id.equals(s)) {
                return r;
            }
        }
        throw new IllegalArgumentException("ar must be one of " + ids() + ", got " + id);
    }

    /** The accepted ratios, e.g. {@code 1:1, 3:2, ...}. */
    public static String ids() {
        StringBuilder sb = new StringBuilder();
        for (AspectRatio r : values()) {
            sb.append(sb.length() == 0 ? "" : ", ").append(r.id);
        }
        return sb.toString();
    }
}
