package org.diffusionbot.bot.moderation;

import com.google.re2j.Pattern;
import com.google.re2j.PatternSyntaxException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;

/**
 * One blocked word or pattern of a server, as an admin wrote it.
 *
 * <ul>
 *   <li>{@link Kind#WORD}: a word or phrase, matched as whole words after {@link PromptText#fold}
 *       (case and accents ignored, white space between words as one space). Discord AutoMod's
 *       wildcards: {@code word*} also blocks words that start with it, {@code *word} words that end
 *       with it, {@code *word*} any word containing it. A word edge is where a letter meets a
 *       non-letter (or a digit a non-digit), as CLIP's tokenizer splits text: {@code nude} is found
 *       in {@code nude2} and {@code nude_art}, not in {@code denuded}.
 *   <li>{@link Kind#REGEX}: a regular expression in RE2 syntax (RE2J), case-insensitive, searched in
 *       the folded prompt. RE2 matches in time linear in the prompt's length, whatever the pattern
 *       ({@code (a+)+$} cannot backtrack catastrophically); lookaround and back-references do not
 *       exist there and are refused. Counted repetitions are compiled into copies, so their bounds
 *       ({@code x{n,m}}: m, or n + 1 for {@code x{n,}}) may multiply to at most
 *       {@value #MAX_REPETITION_PRODUCT} over the whole pattern; that, with the length limit, bounds
 *       the compiled program and so the time of every match.
 * </ul>
 *
 * @param kind word or regular expression
 * @param term the word (wildcards included) or the pattern, at most {@value #MAX_LENGTH} characters
 */
public record BlockedTerm(Kind kind, String term) {
    /** Longest term, in characters. */
    public static final int MAX_LENGTH = 200;
    /** Largest product of the counted-repetition bounds of one pattern. */
    public static final int MAX_REPETITION_PRODUCT = 100;

    private static final java.util.regex.Pattern COUNTED =
            java.util.regex.Pattern.compile("\\{(\\d{1,9})(,(\\d{0,9}))?}");

    /** How a term is matched; its lower-case name is what the database stores. */
    public enum Kind {
        WORD, REGEX;

        /** @return the stored name: {@code word} or {@code regex} */
        public String dbName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /**
         * @param name a stored name
         * @return the kind
         * @throws IllegalArgumentException for any other name
         */
        public static Kind fromDb(String name) {
            return valueOf(name.toUpperCase(Locale.ROOT));
        }
    }

    /**
     * @throws IllegalArgumentException with a one-line reason for the admin: empty or too long, a
     *     word without letters or digits, or a pattern RE2J refuses or whose repetitions are too large
     */
    public BlockedTerm {
        if (kind == null || term == null || term.isBlank()) {
            throw new IllegalArgumentException("a blocked term must not be empty");
        }
        if (term.length() > MAX_LENGTH) {
            throw new IllegalArgumentException("a blocked term may have at most " + MAX_LENGTH + " characters");
        }
        if (kind == Kind.WORD && !PromptText.fold(term).codePoints().anyMatch(Character::isLetterOrDigit)) {
            throw new IllegalArgumentException("a blocked word needs a letter or a digit: " + term);
        }
        if (kind == Kind.REGEX) {
            compile(term);
        }
    }

    /**
     * Reads what an admin typed: {@code /pattern/} is a regular expression, anything else a word.
     *
     * @param input the typed term
     * @return the term
     * @throws IllegalArgumentException as the constructor
     */
    public static BlockedTerm parse(String input) {
        String s = input == null ? "" : input.strip();
        if (s.length() >= 2 && s.startsWith("/") && s.endsWith("/")) {
            return new BlockedTerm(Kind.REGEX, s.substring(1, s.length() - 1));
        }
        return new BlockedTerm(Kind.WORD, PromptText.collapse(s));
    }

    /**
     * The list that ships with the bot ({@code default-blocked-terms.txt} beside this class: sexual
     * content and sexualised minors), which a server turns on with {@code /admin moderation defaults on}.
     *
     * @return its terms, in file order
     */
    public static List<BlockedTerm> defaults() {
        return DEFAULTS;
    }

    private static final List<BlockedTerm> DEFAULTS = readDefaults();

    private static List<BlockedTerm> readDefaults() {
        try (InputStream in = BlockedTerm.class.getResourceAsStream("default-blocked-terms.txt")) {
            if (in == null) {
                throw new IllegalStateException("default-blocked-terms.txt is missing from the class path");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines()
                    .map(String::strip)
                    .filter(l -> !l.isEmpty() && !l.startsWith("#"))
                    .map(BlockedTerm::parse)
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** @return the term as admins write it and users are told: the word, or {@code /pattern/} */
    public String display() {
        return kind == Kind.REGEX ? "/" + term + "/" : term;
    }

    /**
     * Compiles a pattern the way {@link PromptFilter} runs it.
     *
     * @throws IllegalArgumentException when RE2J refuses it or its repetitions are too large
     */
    static Pattern compile(String regex) {
        long product = 1;
        Matcher m = COUNTED.matcher(regex);
        while (m.find()) {
            if (escaped(regex, m.start())) {
                continue;
            }
            long n = Long.parseLong(m.group(1));
            long bound = m.group(2) == null ? n : m.group(3).isEmpty() ? n + 1 : Long.parseLong(m.group(3));
            product *= Math.max(1, bound);
            if (product > MAX_REPETITION_PRODUCT) {
                throw new IllegalArgumentException("the counted repetitions of /" + regex + "/ multiply to more than "
                        + MAX_REPETITION_PRODUCT + " copies; use + or * instead");
            }
        }
        try {
            return Pattern.compile(PromptText.unaccent(regex), Pattern.CASE_INSENSITIVE);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("not a pattern RE2 accepts (no lookaround or back-references): /"
                    + regex + "/: " + e.getDescription());
        }
    }

    /** Whether the character at {@code i} follows an odd number of backslashes. */
    private static boolean escaped(String s, int i) {
        int n = 0;
        for (int j = i - 1; j >= 0 && s.charAt(j) == '\\'; j--) {
            n++;
        }
        return n % 2 == 1;
    }
}
