package org.diffusionbot.db;

/**
 * A user's defaults for {@code /imagine} (null fields: the bot's defaults) and whether the gallery may show
 * their images.
 *
 * @param schedule the sampler schedule id ({@code default}, {@code karras}, {@code exponential}, {@code
 *     trailing}), or null for no preference
 * @param guidanceRescale the default guidance_rescale φ (0 to 1), or null for the bot's (0)
 * @param clipSkip the default clip skip (Automatic1111's "Clip skip", 2 to 12, one numbering for every model family:
 *     hidden_states[-N]), or null for each model's own (1: CLIP's last layer; SDXL 2: the penultimate)
 */
public record UserSettings(String sampler, Integer steps, Double cfg, Integer width, Integer height,
        String negativePrompt, boolean galleryPublic, String schedule, Double guidanceRescale, Integer clipSkip) {

    public static final UserSettings NONE = new UserSettings(null, null, null, null, null, null, true, null, null,
            null);

    /** Settings without a clip skip preference. */
    public UserSettings(String sampler, Integer steps, Double cfg, Integer width, Integer height,
            String negativePrompt, boolean galleryPublic, String schedule, Double guidanceRescale) {
        this(sampler, steps, cfg, width, height, negativePrompt, galleryPublic, schedule, guidanceRescale, null);
    }

    /** Settings without a guidance rescale preference. */
    public UserSettings(String sampler, Integer steps, Double cfg, Integer width, Integer height,
            String negativePrompt, boolean galleryPublic, String schedule) {
        this(sampler, steps, cfg, width, height, negativePrompt, galleryPublic, schedule, null, null);
    }

    /** Settings without a schedule preference. */
    public UserSettings(String sampler, Integer steps, Double cfg, Integer width, Integer height,
            String negativePrompt, boolean galleryPublic) {
        this(sampler, steps, cfg, width, height, negativePrompt, galleryPublic, null, null, null);
    }

    public boolean isEmpty() {
        return sampler == null && steps == null && cfg == null && width == null && negativePrompt == null
                && schedule == null && guidanceRescale == null
                && clipSkip == null;
    }
}
