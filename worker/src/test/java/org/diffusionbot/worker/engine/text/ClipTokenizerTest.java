package org.diffusionbot.worker.engine.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.diffusionbot.worker.engine.RefData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ClipTokenizerTest {
    private static final String DIR = "/reference/tiny-sd15/model/tokenizer/";
    private static JsonArray cases;

    @BeforeAll
    static void load() {
        cases = JsonParser.parseReader(new InputStreamReader(new ByteArrayInputStream(
                RefData.bytes("/reference/tokenizer-cases.json")), StandardCharsets.UTF_8)).getAsJsonArray();
        assertEquals(10, cases.size());
    }

    private static int[] ints(JsonElement a) {
        JsonArray arr = a.getAsJsonArray();
        int[] r = new int[arr.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = arr.get(i).getAsInt();
        }
        return r;
    }

    private static void assertAllCases(ClipTokenizer t) {
        for (JsonElement e : cases) {
            String prompt = e.getAsJsonObject().get("prompt").getAsString();
            ClipTokenizer.Encoding enc = t.encode(prompt);
            int[] full = ints(e.getAsJsonObject().get("ids_untruncated"));
            assertArrayEquals(full, enc.untruncatedIds(), "untruncated: " + prompt);
            assertArrayEquals(ints(e.getAsJsonObject().get("ids_padded_77")), enc.ids(), "padded: " + prompt);
            assertEquals(Math.max(0, full.length - 77), enc.truncatedTokens(), prompt);
        }
    }

    @Test
    void vocabAndMergesMatchEveryCase() throws Exception {
        ClipTokenizer t = ClipTokenizer.fromVocabAndMerges(
                new ByteArrayInputStream(RefData.bytes(DIR + "vocab.json")),
                new ByteArrayInputStream(RefData.bytes(DIR + "merges.txt")), -1);
        assertEquals(49408, t.vocabSize());
        assertEquals(49406, t.bosId());
        assertEquals(49407, t.eosId());
        assertEquals(49407, t.padId());
        assertAllCases(t);
    }

    @Test
    void tokenizerJsonAloneMatchesEveryCase() throws Exception {
        ClipTokenizer t = ClipTokenizer.fromTokenizerJson(
                new ByteArrayInputStream(RefData.bytes(DIR + "tokenizer.json")), -1);
        assertEquals(49408, t.vocabSize());
        assertAllCases(t);
    }

    @Test
    void bundledVocabularyMatchesEveryCaseAndLoadsQuickly() {
        ClipTokenizer.bundled(); // warm up class loading and JIT
        long t0 = System.nanoTime();
        ClipTokenizer t = ClipTokenizer.bundled();
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertAllCases(t);
        assertTrue(ms < 1000, "bundled tokenizer took " + ms + " ms to load");
        System.out.println("ClipTokenizer.bundled() loads in " + ms + " ms");
    }

    @Test
    void fromDirectoryReadsPadTokenFromConfig() throws Exception {
        Path dir = Path.of(ClipTokenizerTest.class.getResource(DIR + "vocab.json").toURI()).getParent();
        ClipTokenizer t = ClipTokenizer.fromDirectory(dir);
        assertEquals(49407, t.padId());
        assertAllCases(t);
    }

    @Test
    void longPromptReportsTruncatedTokens() {
        ClipTokenizer t = ClipTokenizer.bundled();
        JsonElement longCase = null;
        for (JsonElement e : cases) {
            if (e.getAsJsonObject().getAsJsonArray("ids_untruncated").size() > 77) {
                longCase = e;
            }
        }
        ClipTokenizer.Encoding enc = t.encode(longCase.getAsJsonObject().get("prompt").getAsString());
        assertEquals(372, enc.untruncatedIds().length);
        assertEquals(372 - 77, enc.truncatedTokens());
        assertTrue(enc.truncated());
        assertEquals(77, enc.ids().length);
        assertEquals(49407, enc.ids()[76]);
        assertEquals(enc.untruncatedIds()[75], enc.ids()[75]);
        assertEquals(0, t.encode("a cat").truncatedTokens());
    }

    @Test
    void sd2PaddingAndSpecialTokensInText() {
        ClipTokenizer t = ClipTokenizer.bundled(0);
        ClipTokenizer.Encoding enc = t.encode("a cat");
        assertEquals(List.of(49406, 320, 2368, 49407, 0), List.of(enc.ids()[0], enc.ids()[1], enc.ids()[2],
                enc.ids()[3], enc.ids()[4]));
        assertEquals(0, enc.ids()[76]);
        // a literal special token is one id, not BPE pieces (as the fast tokenizer's added tokens)
        assertArrayEquals(new int[] {320, 49407, 2368}, t.tokenize("a<|endoftext|>cat"));
    }
}
