package org.diffusionbot.db;

/**
 * What a gallery page shows: every filter is optional (null = any).
 *
 * @param userId  only this author's images
 * @param model   only images of this model
 * @param sampler only images of this sampler (its id, e.g. {@code dpmpp_2m_karras})
 * @param search  prompt words, in web search syntax ({@code cat "red hat" -dog}); blank = no search
 * @param before  the page after this position; null = the first page
 * @param limit   images per page, clamped to 1..{@link GalleryStore#MAX_PAGE}
 */
public record GalleryQuery(Long userId, String model, String sampler, String search, GalleryCursor before, int limit) {
    public GalleryQuery {
        limit = Math.max(1, Math.min(GalleryStore.MAX_PAGE, limit));
        search = search == null || search.isBlank() ? null : search.strip();
        model = model == null || model.isBlank() ? null : model.strip();
        sampler = sampler == null || sampler.isBlank() ? null : sampler.strip();
    }

    public static GalleryQuery latest(int limit) {
        return new GalleryQuery(null, null, null, null, null, limit);
    }

    public GalleryQuery after(GalleryCursor cursor) {
        return new GalleryQuery(userId, model, sampler, search, cursor, limit);
    }
}
