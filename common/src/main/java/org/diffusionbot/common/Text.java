package org.diffusionbot.common;

import java.text.BreakIterator;
import java.util.Locale;

/**
 * Shortening text for people to read: cut only between user-perceived characters (grapheme clusters, as
 * {@link BreakIterator#getCharacterInstance()} finds them), never inside a surrogate pair or between a letter and
 * its combining marks, so a shortened text is still valid UTF-16 (Discord refuses a lone surrogate) and shows no
 * broken character. Lengths count code points, as Discord's limits (and JDA's checks of them) do.
 */
public final class Text {
    /** What a shortened text ends with. */
    public static final String ELLIPSIS = "…";

    private Text() {
    }

    /**
     * {@code s} itself when it has at most {@code max} code points; otherwise its longest prefix of at most
     * {@code max - 1} code points that ends on a grapheme boundary, trailing whitespace removed, and an ellipsis.
     *
     * @param max at least 1
     */
    public static String shorten(String s, int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max must be at least 1, got " + max);
        }
        if (s.codePointCount(0, s.length()) <= max) {
            return s;
        }
        return prefix(s, max - 1).stripTrailing() + ELLIPSIS;
    }

    /** The longest prefix of {@code s} with at most {@code max} code points that ends on a grapheme boundary. */
    public static String prefix(String s, int max) {
        if (s.codePointCount(0, s.length()) <= max) {
            return s;
        }
        int limit = s.offsetByCodePoints(0, max);
        BreakIterator graphemes = BreakIterator.getCharacterInstance(Locale.ROOT);
        graphemes.setText(s);
        int end = graphemes.isBoundary(limit) ? limit : graphemes.preceding(limit);
        return s.substring(0, Math.max(end, 0));
    }

    /**
     * {@code s} made safe inside a Discord (markdown) code span or block: a backtick would close it, so each becomes
     * an apostrophe.
     */
    public static String codeText(String s) {
        return s.replace('`', '\'');
    }
}
