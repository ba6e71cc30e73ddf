package org.diffusionbot.db;

import java.util.Locale;

/**
 * The image safety check's verdict on a stored image ({@code images.safety}, migration V8; docs/MODERATION.md).
 * The gallery shows only {@link #PASSED} images.
 */
public enum ImageSafety {
    /** Not checked: the job's channel is age-restricted, or the worker runs no checker. */
    UNCHECKED,
    /** Checked, not flagged. */
    PASSED,
    /** Flagged by the checker: withheld or shown as a spoiler ({@link ModerationStore.FlaggedAction}). */
    FLAGGED;

    /** @return the stored name: {@code unchecked}, {@code passed} or {@code flagged} */
    public String sql() {
        return name().toLowerCase(Locale.ROOT);
    }

    static ImageSafety ofSql(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }
}
