package org.diffusionbot.bot.service;

import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import org.diffusionbot.common.ModelFamily;

/**
 * How many images of the daily allowance one image of each model family counts as ({@code QUOTA_WEIGHTS}, e.g.
 * {@code sdxl=2}: an SDXL image, about four times the pixels and compute of an SD 1.5 one, uses two). A job is charged
 * {@code count × weight} when it is recorded and exactly that is refunded if it fails or is cancelled (the charge is
 * stored with the job). Families not named weigh 1.
 *
 * @param weights family → weight, each 1 to {@link #MAX_WEIGHT}
 */
public record QuotaWeights(Map<ModelFamily, Integer> weights) {
    /** Every family weighs 1 (the default). */
    public static final QuotaWeights NONE = new QuotaWeights(Map.of());
    public static final int MAX_WEIGHT = 100;

    public QuotaWeights {
        weights = Map.copyOf(weights);
        weights.forEach((f, w) -> {
            if (w < 1 || w > MAX_WEIGHT) {
                throw new IllegalArgumentException("the weight of " + f.id() + " must be between 1 and " + MAX_WEIGHT
                        + ", got " + w);
            }
        });
    }

    /** Images of the allowance one image of {@code family} counts as. */
    public int weight(ModelFamily family) {
        return weights.getOrDefault(family, 1);
    }

    /** What a job of {@code images} images of {@code family} is charged. */
    public int charge(ModelFamily family, int images) {
        return images * weight(family);
    }

    /**
     * Parses {@code family=weight[,family=weight...]} (families {@code sd1}, {@code sd2}, {@code sdxl}); blank: every
     * family weighs 1.
     *
     * @throws IllegalArgumentException saying what is wrong and what is expected
     */
    public static QuotaWeights parse(String raw) {
        if (raw == null || raw.isBlank()) {
            return NONE;
        }
        Map<ModelFamily, Integer> out = new EnumMap<>(ModelFamily.class);
        for (String part : raw.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int eq = p.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("expected family=weight (e.g. sdxl=2), got '" + p + "'");
            }
            ModelFamily f = ModelFamily.fromId(p.substring(0, eq).trim().toLowerCase(Locale.ROOT));
            int w;
            try {
                w = Integer.parseInt(p.substring(eq + 1).trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("the weight of " + f.id() + " must be a whole number, got '"
                        + p.substring(eq + 1).trim() + "'");
            }
            if (out.put(f, w) != null) {
                throw new IllegalArgumentException(f.id() + " is given twice");
            }
        }
        return new QuotaWeights(out);
    }
}
