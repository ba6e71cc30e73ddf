package org.diffusionbot.db;

import java.util.List;

/** A page of the gallery, newest first; {@code next} is the cursor of the following page, or null on the last. */
public record GalleryPage(List<GalleryItem> items, GalleryCursor next) {
}
