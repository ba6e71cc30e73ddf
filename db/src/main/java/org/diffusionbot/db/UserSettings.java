package org.diffusionbot.db;

/**
 * A user's defaults for {@code /imagine} (null fields: the bot's defaults) and whether the gallery may show
 * their images.
 */
public record UserSettings(String sampler, Integer steps, Double cfg, Integer width, Integer height,
        String negativePrompt, boolean galleryPublic) {

    public static final UserSettings NONE = new UserSettings(null, null, null, null, null, null, true);

    public boolean isEmpty() {
        return sampler == null && steps == null && cfg == null && width == null && negativePrompt == null;
    }
}
