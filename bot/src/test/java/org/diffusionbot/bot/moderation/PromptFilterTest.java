package org.diffusionbot.bot.moderation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PromptFilterTest {
    static final PromptFilter FILTER = PromptFilter.of(List.of(
            BlockedTerm.parse("nude"), BlockedTerm.parse("blood bath"), BlockedTerm.parse("gore*"),
            BlockedTerm.parse("café"), BlockedTerm.parse("/\\bk+i+l+l+/")));

    static Optional<String> blocked(String prompt) {
        return FILTER.check(prompt, "").map(PromptFilter.Refusal::term);
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "a nude portrait", "NUDE", "Nude, oil painting", "nude2", "nude_statue", "(nude)", "((nude:1.4))",
        "[nude]", "n(ude)", "nu[de]", "(nu:1.2)de", "\\(nude\\)", "nu\u200bde", "nu\u200dde", "n\u00adude",
        "nu\u2060de", "\ufeffnude", "nüde", "ñude", "n\u0336u\u0336d\u0336e\u0336", "ｎｕｄｅ", "𝐧𝐮𝐝𝐞", "NÚDÉ",
        "a <lora:style:0.8> nude", "castle BREAK nude", "nude\u200b", "nude\uFE0F"})
    void evasionsOfAWordAreFound(String prompt) {
        assertEquals(Optional.of("nude"), blocked(prompt), prompt);
    }

    @ParameterizedTest
    @ValueSource(strings = {"denuded hillside", "nudes", "a prelude", "", "a cat <lora:nude:1>", "nud e"})
    void wordsAreWholeWords(String prompt) {
        assertEquals(Optional.empty(), blocked(prompt), prompt);
    }

    @Test
    void phrasesWildcardsAndAccentsInTerms() {
        assertEquals(Optional.of("blood bath"), blocked("a Blood   Bath at dawn"));
        assertEquals(Optional.of("blood bath"), blocked("(blood:1.3) [bath]"));
        assertEquals(Optional.empty(), blocked("blood, bathtub"));
        assertEquals(Optional.of("gore*"), blocked("gorefest"));
        assertEquals(Optional.of("gore*"), blocked("al gore"));
        assertEquals(Optional.empty(), blocked("algore"), "gore* does not match words that only end with it");
        assertEquals(Optional.empty(), blocked("a gorge"));
        assertEquals(Optional.of("café"), blocked("a cafe"));
        assertEquals(Optional.of("café"), blocked("CAFÉ"));
        assertEquals(Optional.of("café"), blocked("ca\u0301fe"));
        assertEquals(Optional.of("/\\bk+i+l+l+/"), blocked("kkiiilll them"));
        assertEquals(Optional.of("/\\bk+i+l+l+/"), blocked("KİLL"), "dotted capital I folds to i");
        assertEquals(Optional.empty(), blocked("skill"));
        assertEquals(Optional.of("*word*"),
                PromptFilter.of(List.of(BlockedTerm.parse("*word*"))).check("swordfish", null).map(r -> r.term()));
        assertEquals(Optional.of("*fish"),
                PromptFilter.of(List.of(BlockedTerm.parse("*fish"))).check("swordfish", null).map(r -> r.term()));
    }

    @Test
    void theNegativePromptIsCheckedTooAndNamed() {
        assertEquals(Optional.of(new PromptFilter.Refusal("nude", "negative prompt")),
                FILTER.check("a castle", "blurry, (NUDE:1.2)"));
        assertEquals(Optional.of(new PromptFilter.Refusal("nude", "prompt")), FILTER.check("nude", "gorey"));
        assertEquals(Optional.empty(), FILTER.check("a castle", null));
        assertEquals(Optional.empty(), PromptFilter.NONE.check("nude", "nude"));
    }

    @Test
    void regexIsCaseAndAccentInsensitiveButKeepsItsClasses() {
        PromptFilter f = PromptFilter.of(List.of(BlockedTerm.parse("/n\\S*d\\S*/")));
        assertTrue(f.check("N*U*D*E", null).isPresent(), "\\S keeps its meaning although the text is lower case");
        assertFalse(f.check("n d", null).isPresent());
        assertTrue(PromptFilter.of(List.of(BlockedTerm.parse("/ÉTÉ/"))).check("un ete", null).isPresent());
    }

    @Test
    void catastrophicBacktrackingPatternsRunInLinearTime() {
        // java.util.regex needs about 2^n steps for these on n a's followed by a mismatch; RE2 is linear
        PromptFilter f = PromptFilter.of(List.of(BlockedTerm.parse("/(a+)+$/"), BlockedTerm.parse("/(x+x+)+y/"),
                BlockedTerm.parse("/(a|aa)+b/"), BlockedTerm.parse("/(.*a){12}z/")));
        String evil = "a".repeat(1900) + "!";
        String evilX = "x".repeat(1999);
        Optional<PromptFilter.Refusal> r = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> f.check(evil + " " + evilX, evilX));
        assertEquals(Optional.empty(), r);
        assertEquals("/(a+)+$/", assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> f.check("a".repeat(1999), null)).orElseThrow().term());
    }

    @Test
    void patternsThatCompileIntoHugeProgramsAreRefused() {
        for (String p : List.of("(a{1000}){1000}", "((a{100}){100}){100}", "a{101}", "(ab{11}){10}", "x{100,}")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BlockedTerm.parse("/" + p + "/"));
            assertTrue(e.getMessage().contains("repetitions"), e.getMessage());
        }
        assertEquals(BlockedTerm.Kind.REGEX, BlockedTerm.parse("/a{10}b{10}/").kind());
        assertEquals(BlockedTerm.Kind.REGEX, BlockedTerm.parse("/\\{1000}/").kind(), "an escaped brace is literal");
    }

    @Test
    void invalidTermsAreRefusedWithAReason() {
        for (String p : List.of("/(?=a)b/", "/(a)\\1/", "/(unclosed/", "/a**/")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BlockedTerm.parse(p));
            assertTrue(e.getMessage().startsWith("not a pattern RE2 accepts"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> BlockedTerm.parse(" "));
        assertThrows(IllegalArgumentException.class, () -> BlockedTerm.parse("***"));
        assertThrows(IllegalArgumentException.class, () -> BlockedTerm.parse("\u200b"));
        assertThrows(IllegalArgumentException.class, () -> BlockedTerm.parse("x".repeat(201)));
        assertEquals(new BlockedTerm(BlockedTerm.Kind.WORD, "blood bath"), BlockedTerm.parse("  blood \t bath "));
        assertEquals("/a/", BlockedTerm.parse("/a/").display());
        assertThrows(IllegalArgumentException.class, () -> BlockedTerm.parse("/"));
        assertEquals(BlockedTerm.Kind.WORD, BlockedTerm.parse("/x").kind());
        assertEquals(BlockedTerm.Kind.REGEX, BlockedTerm.Kind.fromDb(BlockedTerm.Kind.REGEX.dbName()));
    }

    @Test
    void theDefaultListParsesAndBlocksWhatItSays() {
        List<BlockedTerm> defaults = BlockedTerm.defaults();
        assertTrue(defaults.size() > 30, "default list has " + defaults.size() + " terms");
        PromptFilter f = PromptFilter.of(defaults);
        assertTrue(f.check("(NSFW:1.3), masterpiece", null).isPresent());
        assertTrue(f.check("a Nüdé woman", null).isPresent());
        assertTrue(f.check("pornographic", null).isPresent());
        assertTrue(f.check("a loli", null).isPresent());
        assertTrue(f.check("a schoolgirl in lingerie", null).isPresent());
        assertTrue(f.check("masterpiece", "(((nsfw)))").isPresent(), "negative prompts are checked too");
        for (String ok : List.of("a castle on a hill, watercolor", "portrait of an old sailor, oil painting",
                "a sussex landscape", "essex countryside", "a peacock on a farm", "middlesex")) {
            assertEquals(Optional.empty(), f.check(ok, "blurry, lowres"), ok);
        }
    }

    @Test
    void formsGiveBothReadingsOfBrackets() {
        assertEquals(List.of("catdog", "cat dog"), PromptText.forms("(cat:1.2)dog"));
        assertEquals(List.of("a castle"), PromptText.forms("  a \n Castle "));
        assertEquals(List.of("a castle"), PromptText.forms("a <lora:x_y:0.5> castle"));
        assertEquals("cafe", PromptText.fold("CAFÉ\u200b"));
    }
}
