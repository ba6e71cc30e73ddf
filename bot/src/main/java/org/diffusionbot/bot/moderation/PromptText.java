package org.diffusionbot.bot.moderation;

import java.text.Normalizer;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A prompt as the blocked-term check reads it: what the text encoder would be given, folded so that
 * spelling tricks do not hide a word.
 *
 * <ol>
 *   <li>Unicode compatibility decomposition (NFKD): full-width and styled letters ({@code ｎｕｄｅ},
 *       {@code 𝐧𝐮𝐝𝐞}) become plain ones, accented letters become the letter and its marks;
 *   <li>marks ({@code \p{M}}: accents, combining overlays, variation selectors) and format characters
 *       ({@code \p{Cf}}: zero-width space/joiners, soft hyphen, word joiner, BOM, bidi controls) removed;
 *   <li>lower case ({@link Locale#ROOT});
 *   <li>Automatic1111's extra-network tags ({@code <lora:…>}, {@code <lyco:…>}, {@code <hypernet:…>})
 *       and {@code BREAK} become spaces; its emphasis syntax goes: the weight of {@code (word:1.3)},
 *       the brackets {@code ( ) [ ]} and the escaping backslash;
 *   <li>runs of white space become one space.
 * </ol>
 *
 * <p>Brackets can split a word ({@code nu(de)}: the encoder reads "nu" and "de") or join two
 * ({@code (cat:1.2)dog}); {@link #forms} gives both readings, brackets removed and brackets as spaces,
 * and a term found in either counts.
 */
public final class PromptText {
    private static final Pattern MARKS_AND_FORMAT = Pattern.compile("[\\p{M}\\p{Cf}]+");
    private static final Pattern EXTRA_NETWORK = Pattern.compile("<(?:lora|lyco|hypernet):[^>]*>");
    private static final Pattern BREAK = Pattern.compile("(?<![\\p{L}\\p{N}])break(?![\\p{L}\\p{N}])");
    /** A1111's weight before a closing round bracket ({@code re_attention}'s {@code :([+-]?[.\d]+)\)}). */
    private static final Pattern WEIGHT = Pattern.compile(":\\s*[+-]?[.\\d]+\\s*\\)");
    private static final Pattern SYNTAX = Pattern.compile("[()\\[\\]\\\\]");
    private static final Pattern SPACE = Pattern.compile("\\s+");

    private PromptText() {
    }

    /**
     * Steps 1–3 alone: NFKD, marks and format characters removed, lower case. Blocked terms are folded
     * the same way, so {@code Café} blocks {@code cafe}, {@code CAFÉ} and {@code café}.
     *
     * @param text any text (null: empty)
     * @return the folded text
     */
    public static String fold(String text) {
        return unaccent(text).toLowerCase(Locale.ROOT);
    }

    /**
     * Steps 1–2 alone (case kept): how a blocked pattern's own text is prepared, since lower-casing
     * would change its meaning ({@code \S}, {@code \P{L}}); patterns match case-insensitively instead.
     *
     * @param text any text (null: empty)
     * @return the text in NFKD without marks and format characters
     */
    public static String unaccent(String text) {
        String s = Normalizer.normalize(text == null ? "" : text, Normalizer.Form.NFKD);
        return MARKS_AND_FORMAT.matcher(s).replaceAll("");
    }

    /**
     * The readings of a prompt that blocked terms are looked for in.
     *
     * @param prompt a prompt or negative prompt (null: empty)
     * @return one or two folded texts without A1111 syntax: brackets removed, and brackets as spaces
     *     when that differs
     */
    public static List<String> forms(String prompt) {
        String s = fold(prompt);
        s = EXTRA_NETWORK.matcher(s).replaceAll(" ");
        s = BREAK.matcher(s).replaceAll(" ");
        s = WEIGHT.matcher(s).replaceAll(")");
        String joined = collapse(SYNTAX.matcher(s).replaceAll(""));
        String spaced = collapse(SYNTAX.matcher(s).replaceAll(" "));
        return joined.equals(spaced) ? List.of(joined) : List.of(joined, spaced);
    }

    /** Runs of white space as one space, none at the ends. */
    static String collapse(String s) {
        return SPACE.matcher(s).replaceAll(" ").strip();
    }
}
