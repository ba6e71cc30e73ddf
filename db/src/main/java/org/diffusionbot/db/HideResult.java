package org.diffusionbot.db;

/** What {@link GalleryStore#hide} did. */
public enum HideResult {
    /** The image is hidden now. */
    HIDDEN,
    /** It was already hidden; nothing changed. */
    ALREADY_HIDDEN,
    /** No such image. */
    NOT_FOUND,
    /** Only its author or an admin may hide it; nothing changed. */
    FORBIDDEN
}
