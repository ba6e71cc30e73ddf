package org.diffusionbot.worker.engine.text;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.worker.engine.text.PromptParser.Segment;
import org.junit.jupiter.api.Test;

/** {@link PromptParser} against Automatic1111's parse_prompt_attention (its doctests first). */
class PromptParserTest {

    /** A1111's list form: text, weight pairs; a break is ("BREAK", -1). */
    private static List<Object> a1111(Object... textWeight) {
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < textWeight.length; i += 2) {
            out.add(textWeight[i] + " @ " + ((Number) textWeight[i + 1]).doubleValue());
        }
        return out;
    }

    private static List<Object> parsed(String prompt) {
        List<Object> out = new ArrayList<>();
        for (Segment s : PromptParser.parse(prompt)) {
            out.add(s.text() + " @ " + s.weight());
        }
        return out;
    }

    // ------------------------------------------------------------ A1111's doctests

    @Test
    void normalText() {
        assertEquals(a1111("normal text", 1.0), parsed("normal text"));
    }

    @Test
    void importantWord() {
        assertEquals(a1111("an ", 1.0, "important", 1.1, " word", 1.0), parsed("an (important) word"));
    }

    @Test
    void unbalancedIsClosedAtTheEnd() {
        assertEquals(a1111("unbalanced", 1.1), parsed("(unbalanced"));
    }

    @Test
    void escapedBrackets() {
        assertEquals(a1111("(literal]", 1.0), parsed("\\(literal\\]"));
    }

    @Test
    void neighboursOfEqualWeightMerge() {
        assertEquals(a1111("unnecessaryparens", 1.1), parsed("(unnecessary)(parens)"));
    }

    @Test
    void theHouseOnTheHill() {
        // exact doubles, as Python prints them
        assertEquals(a1111("a ", 1.0, "house", 1.5730000000000004, " ", 1.1, "on", 1.0, " a ", 1.1, "hill", 0.55,
                ", sun, ", 1.1, "sky", 1.4641000000000006, ".", 1.1),
                parsed("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky)))."));
    }

    // ------------------------------------------------------------ further cases, derived by hand

    @Test
    void bracketsMultiply() {
        assertEquals(a1111("a", 1.1 * 1.1), parsed("((a))"));
        assertEquals(1.2100000000000002, PromptParser.parse("((a))").get(0).weight());
        assertEquals(a1111("a", 1 / 1.1), parsed("[a]"));
        assertEquals(a1111("a", (1 / 1.1) * (1 / 1.1)), parsed("[[a]]"));
        assertEquals(a1111("a", 1.3), parsed("(a:1.3)"));
        // no space allowed before the number: then it is text and ")" weighs 1.1
        assertEquals(a1111("a: 1.3", 1.1), parsed("(a: 1.3)"));
        assertEquals(a1111("a", 1.5 * 1.1, " b", 1.1), parsed("((a:1.5) b)"));
        assertEquals(a1111("x", 1.0, "a", 0.5 * (1 / 1.1), "y", 1.0), parsed("x[(a:0.5)]y"));
        assertEquals(a1111("a", -1.0), parsed("(a:-1)"));
        assertEquals(a1111("a", 0.5), parsed("(a:+.5)"));
        assertEquals(a1111("a", 2.0), parsed("(a:2.)"));
    }

    @Test
    void emptyAndPlain() {
        assertEquals(a1111("", 1.0), parsed(""));
        assertEquals(a1111("", 1.0), parsed(null));
        assertEquals(a1111("", 1.0), parsed("()"));
        assertEquals(a1111("a: b, c:1.2 d", 1.0), parsed("a: b, c:1.2 d"));
    }

    @Test
    void strayClosersAreText() {
        assertEquals(a1111("a) b] c", 1.0), parsed("a) b] c"));
        assertEquals(a1111("a:1.2) b", 1.0), parsed("a:1.2) b"));
        // the weight form closes only round brackets: inside square ones it is text
        assertEquals(a1111("a:1.5", 1 / 1.1), parsed("[a:1.5]"));
        // a colon not followed by a number and ")" is text
        assertEquals(a1111("a:b", 1.1), parsed("(a:b)"));
    }

    @Test
    void escapes() {
        assertEquals(a1111("a \\ b", 1.0), parsed("a \\\\ b"));
        assertEquals(a1111("(a)", 1.1), parsed("(\\(a\\))"));
        assertEquals(a1111("[x] ", 1.0, "y", 1.1), parsed("\\[x\\] (y)"));
        // a backslash before anything else disappears, as in A1111
        assertEquals(a1111("ab", 1.0), parsed("a\\b"));
    }

    @Test
    void unbalancedMixture() {
        // "(" at 0 and "[" at 1 are open at the end: everything after each is multiplied
        assertEquals(a1111("a", 1.1, "b", 1.1 * (1 / 1.1)), parsed("(a[b"));
        // A1111 applies the open round brackets first, then the square ones
        assertEquals(a1111("a", 1 / 1.1, "b", (1 / 1.1) * 1.1), parsed("[a(b"));
    }

    @Test
    void breakSplitsAndSwallowsSurroundingWhitespace() {
        List<Segment> s = PromptParser.parse("a cat BREAK a dog");
        assertEquals(List.of(Segment.of("a cat", 1.0), Segment.BREAK, Segment.of("a dog", 1.0)), s);
        assertEquals(List.of(Segment.of("a", 1.0), Segment.BREAK, Segment.of("", 1.0), Segment.BREAK,
                Segment.of("b", 1.0)), PromptParser.parse("a BREAK BREAK b"));
        assertEquals(List.of(Segment.of("", 1.0), Segment.BREAK, Segment.of("x, y", 1.0)),
                PromptParser.parse("BREAK\nx, y"));
        // only the capitalised whole word
        assertEquals(a1111("a break b BREAKING c", 1.0), parsed("a break b BREAKING c"));
        assertEquals(List.of(Segment.of("a", 1.0), Segment.BREAK, Segment.of(", b", 1.0)),
                PromptParser.parse("a BREAK, b"));
    }

    @Test
    void breakInsideBracketsStillBreaks() {
        // deliberate difference: A1111 would turn the marker into the word "BREAK" weighted -1.1
        assertEquals(List.of(Segment.of("a", 1.1), Segment.BREAK, Segment.of("b", 1.1)),
                PromptParser.parse("(a BREAK b)"));
    }

    @Test
    void malformedWeightIsText() {
        // A1111 raises ValueError on float("1.2.3"); here the number is text and ")" closes with 1.1
        assertEquals(a1111("a:1.2.3", 1.1), parsed("(a:1.2.3)"));
        assertEquals(a1111("a:.", 1.1), parsed("(a:.)"));
    }
}
