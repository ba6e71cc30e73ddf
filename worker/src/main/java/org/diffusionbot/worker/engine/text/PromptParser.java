package org.diffusionbot.worker.engine.text;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Automatic1111's emphasis syntax ({@code parse_prompt_attention} of its {@code prompt_parser.py}):
 * splits a prompt into pieces of text, each with the weight its tokens' embeddings are multiplied by.
 *
 * <ul>
 *   <li>{@code (text)} multiplies by 1.1, {@code ((text))} by 1.1², {@code [text]} divides by 1.1;
 *   <li>{@code (text:1.3)} multiplies by 1.3 (any {@code [+-]?[.\d]+} number written before the
 *       closing parenthesis; a bracket of the other kind, {@code [text:1.3]}, keeps the colon and
 *       number as text);
 *   <li>brackets nest, multiplying their factors;
 *   <li>{@code \(}, {@code \)}, {@code \[}, {@code \]} and {@code \\} are the literal characters; a
 *       backslash before anything else is dropped;
 *   <li>brackets still open at the end are closed there, with their multiplier applied to everything
 *       after them; a closing bracket without an opening one is literal text;
 *   <li>the word {@code BREAK} (capitals, as a word, with the whitespace around it) ends the current
 *       75-token chunk; see {@link Segment#isBreak()};
 *   <li>neighbouring pieces of equal weight are merged.
 * </ul>
 *
 * <p>Weights are doubles multiplied in the order Automatic1111 multiplies them, so results are the
 * same numbers as its own ({@code a (((house:1.3)) ...} gives {@code house} 1.5730000000000004).
 *
 * <p>Deliberate differences from Automatic1111, both for input it mishandles: a {@code BREAK}
 * inside brackets still breaks (Automatic1111 multiplies its marker weight −1 by the brackets'
 * factor, after which it no longer recognises it and encodes the word "BREAK" with a negative
 * weight); and a weight that is not a number ({@code (a:1.2.3)}, {@code (a:.)}), on which
 * Automatic1111 fails the whole generation, is taken as text, its {@code )} closing the bracket
 * with the usual 1.1.
 */
public final class PromptParser {
    /** Multiplier of one pair of round brackets. */
    public static final double ROUND_MULTIPLIER = 1.1;
    /** Multiplier of one pair of square brackets. */
    public static final double SQUARE_MULTIPLIER = 1 / 1.1;

    /** The tokens of Automatic1111's {@code re_attention}, in its order of preference. */
    private static final Pattern ATTENTION = Pattern.compile(
            "\\\\\\(|\\\\\\)|\\\\\\[|\\\\]|\\\\\\\\|\\\\|\\(|\\[|:([+-]?[.\\d]+)\\)|\\)|]|[^\\\\()\\[\\]:]+|:");
    private static final Pattern BREAK = Pattern.compile("\\s*\\bBREAK\\b\\s*",
            Pattern.UNICODE_CHARACTER_CLASS | Pattern.DOTALL);

    /**
     * A piece of the prompt.
     *
     * @param text the text (brackets and escapes resolved); {@code "BREAK"} for a break
     * @param weight the multiplier of its tokens' embeddings; −1 for a break
     * @param isBreak whether this is a {@code BREAK}: the chunk ends here
     */
    public record Segment(String text, double weight, boolean isBreak) {
        /** A piece of text. */
        public static Segment of(String text, double weight) {
            return new Segment(text, weight, false);
        }

        /** The marker of a {@code BREAK}, as Automatic1111 writes it: {@code ["BREAK", -1]}. */
        public static final Segment BREAK = new Segment("BREAK", -1, true);
    }

    private static final class Piece {
        final StringBuilder text;
        double weight;
        final boolean isBreak;

        Piece(String text, double weight, boolean isBreak) {
            this.text = new StringBuilder(text);
            this.weight = weight;
            this.isBreak = isBreak;
        }
    }

    private PromptParser() {}

    /**
     * Parses a prompt.
     *
     * @param prompt the prompt (null: empty)
     * @return its pieces, never empty: an empty prompt is {@code [("", 1.0)]}
     */
    public static List<Segment> parse(String prompt) {
        String s = prompt == null ? "" : prompt;
        List<Piece> res = new ArrayList<>();
        List<Integer> round = new ArrayList<>();
        List<Integer> square = new ArrayList<>();
        Matcher m = ATTENTION.matcher(s);
        while (m.find()) {
            String tok = m.group();
            String weight = m.group(1);
            if (tok.startsWith("\\")) {
                res.add(new Piece(tok.substring(1), 1.0, false));
            } else if (tok.equals("(")) {
                round.add(res.size());
            } else if (tok.equals("[")) {
                square.add(res.size());
            } else if (weight != null && !round.isEmpty() && isNumber(weight)) {
                multiply(res, round.remove(round.size() - 1), Double.parseDouble(weight));
            } else if (weight != null && !round.isEmpty()) {
                // not a number: the colon and digits are text, the parenthesis closes the bracket
                addText(res, tok.substring(0, tok.length() - 1));
                multiply(res, round.remove(round.size() - 1), ROUND_MULTIPLIER);
            } else if (tok.equals(")") && !round.isEmpty()) {
                multiply(res, round.remove(round.size() - 1), ROUND_MULTIPLIER);
            } else if (tok.equals("]") && !square.isEmpty()) {
                multiply(res, square.remove(square.size() - 1), SQUARE_MULTIPLIER);
            } else {
                addText(res, tok);
            }
        }
        for (int pos : round) {
            multiply(res, pos, ROUND_MULTIPLIER);
        }
        for (int pos : square) {
            multiply(res, pos, SQUARE_MULTIPLIER);
        }
        if (res.isEmpty()) {
            res.add(new Piece("", 1.0, false));
        }
        // merge runs of identical weights (a break never merges)
        int i = 0;
        while (i + 1 < res.size()) {
            Piece a = res.get(i);
            Piece b = res.get(i + 1);
            if (!a.isBreak && !b.isBreak && a.weight == b.weight) {
                a.text.append(b.text);
                res.remove(i + 1);
            } else {
                i++;
            }
        }
        List<Segment> out = new ArrayList<>(res.size());
        for (Piece p : res) {
            out.add(p.isBreak ? Segment.BREAK : Segment.of(p.text.toString(), p.weight));
        }
        return out;
    }

    private static void addText(List<Piece> res, String text) {
        String[] parts = BREAK.split(text, -1);
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) {
                res.add(new Piece("BREAK", -1, true));
            }
            res.add(new Piece(parts[i], 1.0, false));
        }
    }

    private static void multiply(List<Piece> res, int from, double multiplier) {
        for (int p = from; p < res.size(); p++) {
            Piece piece = res.get(p);
            if (!piece.isBreak) {
                piece.weight *= multiplier;
            }
        }
    }

    /** Python's {@code float()} on {@code [+-]?[.\d]+}: digits with at most one dot and at least one digit. */
    private static boolean isNumber(String s) {
        int dots = 0;
        int digits = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '.') {
                dots++;
            } else if (c >= '0' && c <= '9') {
                digits++;
            }
        }
        return dots <= 1 && digits > 0;
    }
}
