package org.diffusionbot.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TextTest {
    /** No unpaired surrogate anywhere (what Discord refuses as an invalid body). */
    static boolean wellFormed(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))) {
                    return false;
                }
                i++;
            } else if (Character.isLowSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    @Test
    void shortTextIsLeftAlone() {
        assertEquals("abc", Text.shorten("abc", 3));
        assertEquals("😀😀😀", Text.shorten("😀😀😀", 3), "three code points fit in three");
    }

    @Test
    void longTextIsCutWithAnEllipsisCountingCodePoints() {
        assertEquals("ab…", Text.shorten("abcdef", 3));
        assertEquals("😀😀…", Text.shorten("😀😀😀😀", 3));
        assertEquals("a…", Text.shorten("a   bcdef", 3), "no whitespace before the ellipsis");
    }

    @Test
    void everyCutOfEmojiTextIsWellFormed() {
        String s = "a😀b🎨c👍🏽d🇫🇷e" + "😀".repeat(20);
        for (int max = 1; max <= s.codePointCount(0, s.length()) + 1; max++) {
            String cut = Text.shorten(s, max);
            assertTrue(wellFormed(cut), max + ": " + cut);
            assertTrue(cut.codePointCount(0, cut.length()) <= max, max + ": " + cut);
        }
    }

    @Test
    void aLetterKeepsItsCombiningMarks() {
        String e = "e\u0301"; // é as e + combining acute accent: one grapheme, two code points
        String cut = Text.shorten("ab" + e + "cd", 4); // room for three code points before the ellipsis
        assertEquals("ab…", cut, "the accent is not cut off its letter");
        assertEquals("ab" + e, Text.prefix("ab" + e + "cd", 4));
    }

    @Test
    void maxBelowOneIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> Text.shorten("abc", 0));
    }
}
