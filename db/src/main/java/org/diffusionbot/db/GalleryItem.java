package org.diffusionbot.db;

import java.time.Instant;

/** One image of a gallery page (no image bytes): enough for a thumbnail with a caption. */
public record GalleryItem(long id, Instant createdAt, long userId, String userName, String model, String sampler,
        String prompt, int width, int height, long seed) {

    public GalleryCursor cursor() {
        return new GalleryCursor(createdAt, id);
    }
}
