package org.diffusionbot.worker.engine.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.diffusionbot.worker.engine.RefData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link PromptChunker}: Automatic1111's 75-token chunks, BREAK and comma backtrack. */
class PromptChunkerTest {
    private static ClipTokenizer tok;
    private static PromptChunker chunker;
    private static int cat;
    private static int dog;
    private static int comma;

    @BeforeAll
    static void load() {
        tok = ClipTokenizer.bundled();
        chunker = new PromptChunker(tok);
        cat = single("cat");
        dog = single("dog");
        comma = single(",");
    }

    private static int single(String word) {
        int[] ids = tok.tokenize(word);
        assertEquals(1, ids.length, word);
        return ids[0];
    }

    /** bos, the given content, eos, then padding to 77. */
    private static int[] chunkOf(int... content) {
        int[] ids = new int[77];
        Arrays.fill(ids, tok.padId());
        ids[0] = tok.bosId();
        System.arraycopy(content, 0, ids, 1, content.length);
        ids[content.length + 1] = tok.eosId();
        return ids;
    }

    private static int[] repeat(int id, int n) {
        int[] a = new int[n];
        Arrays.fill(a, id);
        return a;
    }

    private static int[] concat(int[]... parts) {
        int[] out = new int[0];
        for (int[] p : parts) {
            int[] n = Arrays.copyOf(out, out.length + p.length);
            System.arraycopy(p, 0, n, out.length, p.length);
            out = n;
        }
        return out;
    }

    private static float[] ones() {
        float[] w = new float[77];
        Arrays.fill(w, 1f);
        return w;
    }

    @Test
    void shortPlainPromptsAreExactlyTheDiffusersIds() {
        JsonArray cases = JsonParser.parseReader(new InputStreamReader(new ByteArrayInputStream(
                RefData.bytes("/reference/tokenizer-cases.json")), StandardCharsets.UTF_8)).getAsJsonArray();
        int checked = 0;
        for (JsonElement e : cases) {
            JsonObject c = e.getAsJsonObject();
            String prompt = c.get("prompt").getAsString();
            int[] ref = new int[77];
            JsonArray arr = c.getAsJsonArray("ids_padded_77");
            for (int i = 0; i < 77; i++) {
                ref[i] = arr.get(i).getAsInt();
            }
            if (prompt.contains("(") || prompt.contains("[")) {
                continue; // weighted: see aPromptWithEmphasisLosesItsBrackets
            }
            ChunkedPrompt cp = chunker.chunk(prompt);
            int untruncated = c.getAsJsonArray("ids_untruncated").size() - 2;
            assertEquals(untruncated, cp.tokenCount(), prompt);
            // the first chunk is what diffusers encodes (no commas near the cut in these prompts)
            assertArrayEquals(ref, cp.chunks().get(0).ids(), prompt);
            assertEquals(Math.max(1, (untruncated + 74) / 75), cp.chunkCount(), prompt);
            assertFalse(cp.weighted(), prompt);
            checked++;
        }
        assertEquals(9, checked);
    }

    @Test
    void aPromptWithEmphasisLosesItsBrackets() {
        // the tokenizer reference case written in A1111 syntax; diffusers would encode the brackets as tokens
        ChunkedPrompt cp = chunker.chunk("(masterpiece:1.2), [background], {detailed}, <lora:foo:0.8>, ((best quality))");
        assertEquals(1, cp.chunkCount());
        ChunkedPrompt.Chunk c = cp.chunks().get(0);
        assertArrayEquals(tok.encode("masterpiece, background, {detailed}, <lora:foo:0.8>, best quality").ids(), c.ids());
        int n = tok.tokenize("masterpiece, background, {detailed}, <lora:foo:0.8>, best quality").length;
        float[] expect = ones();
        expect[1] = 1.2f; // masterpiece
        expect[3] = (float) (1 / 1.1); // background
        expect[n - 1] = (float) (1.1 * 1.1); // best
        expect[n] = (float) (1.1 * 1.1); // quality
        assertArrayEquals(expect, c.multipliers());
        assertEquals(n, cp.tokenCount());
    }

    @Test
    void seventyFiveTokensAreOneChunkSeventySixAreTwo() {
        ChunkedPrompt p75 = chunker.chunk("cat ".repeat(75));
        assertEquals(1, p75.chunkCount());
        assertEquals(75, p75.tokenCount());
        assertArrayEquals(chunkOf(repeat(cat, 75)), p75.chunks().get(0).ids());

        ChunkedPrompt p76 = chunker.chunk("cat ".repeat(75) + "dog");
        assertEquals(2, p76.chunkCount());
        assertEquals(76, p76.tokenCount());
        assertArrayEquals(chunkOf(repeat(cat, 75)), p76.chunks().get(0).ids());
        assertArrayEquals(chunkOf(dog), p76.chunks().get(1).ids());

        ChunkedPrompt p150 = chunker.chunk("cat ".repeat(150));
        assertEquals(2, p150.chunkCount());
        ChunkedPrompt p151 = chunker.chunk("cat ".repeat(151));
        assertEquals(3, p151.chunkCount());
        assertArrayEquals(chunkOf(cat), p151.chunks().get(2).ids());
    }

    @Test
    void emptyPromptIsOneEmptyChunk() {
        ChunkedPrompt e = chunker.chunk("");
        assertEquals(1, e.chunkCount());
        assertEquals(0, e.tokenCount());
        assertArrayEquals(tok.encode("").ids(), e.chunks().get(0).ids());
        assertArrayEquals(e.chunks().get(0).ids(), chunker.emptyChunk().ids());
        assertArrayEquals(ones(), chunker.emptyChunk().multipliers());
    }

    @Test
    void breakStartsANewChunk() {
        ChunkedPrompt p = chunker.chunk("a cat BREAK a dog");
        assertEquals(2, p.chunkCount());
        assertEquals(4, p.tokenCount());
        assertArrayEquals(tok.encode("a cat").ids(), p.chunks().get(0).ids());
        assertArrayEquals(tok.encode("a dog").ids(), p.chunks().get(1).ids());

        // a leading BREAK leaves an empty first chunk, a trailing one adds nothing (as in A1111)
        ChunkedPrompt lead = chunker.chunk("BREAK cat");
        assertEquals(2, lead.chunkCount());
        assertArrayEquals(chunker.emptyChunk().ids(), lead.chunks().get(0).ids());
        assertEquals(1, chunker.chunk("cat BREAK").chunkCount());

        // BREAK after exactly 75 tokens: the full chunk, then a new one
        ChunkedPrompt full = chunker.chunk("cat ".repeat(75) + "BREAK dog");
        assertEquals(2, full.chunkCount());
        assertArrayEquals(chunkOf(dog), full.chunks().get(1).ids());
    }

    @Test
    void commaBacktrackMovesTheLastPhraseToTheNextChunk() {
        // 70 cats, a comma (token 71), 10 dogs: the 76th token is the 5th dog; the comma is 5 back
        String prompt = "cat ".repeat(70) + "," + " dog".repeat(10);
        ChunkedPrompt p = chunker.chunk(prompt);
        assertEquals(2, p.chunkCount());
        assertEquals(81, p.tokenCount());
        assertArrayEquals(chunkOf(concat(repeat(cat, 70), new int[] {comma})), p.chunks().get(0).ids());
        assertArrayEquals(chunkOf(repeat(dog, 10)), p.chunks().get(1).ids());

        // off: a hard cut after 75 tokens
        ChunkedPrompt hard = new PromptChunker(tok, 0).chunk(prompt);
        assertArrayEquals(chunkOf(concat(repeat(cat, 70), new int[] {comma}, repeat(dog, 4))), hard.chunks().get(0).ids());
        assertArrayEquals(chunkOf(repeat(dog, 6)), hard.chunks().get(1).ids());

        // a comma 20 tokens back still counts, 21 back does not
        String at20 = "cat ".repeat(55) + "," + " dog".repeat(25); // comma at index 55, 75 - 55 = 20
        assertArrayEquals(chunkOf(concat(repeat(cat, 55), new int[] {comma})), chunker.chunk(at20).chunks().get(0).ids());
        String at21 = "cat ".repeat(54) + "," + " dog".repeat(25); // 75 - 54 = 21
        assertArrayEquals(chunkOf(concat(repeat(cat, 54), new int[] {comma}, repeat(dog, 20))),
                chunker.chunk(at21).chunks().get(0).ids());
        assertArrayEquals(chunkOf(concat(repeat(cat, 54), new int[] {comma})),
                new PromptChunker(tok, 21).chunk(at21).chunks().get(0).ids());

        // a comma as the 76th token simply starts the next chunk
        ChunkedPrompt c76 = chunker.chunk("cat ".repeat(75) + ", dog");
        assertArrayEquals(chunkOf(repeat(cat, 75)), c76.chunks().get(0).ids());
        assertArrayEquals(chunkOf(comma, dog), c76.chunks().get(1).ids());
    }

    @Test
    void movedTokensKeepTheirWeights() {
        String prompt = "cat ".repeat(70) + ", (dog:1.5)" + " dog".repeat(9);
        ChunkedPrompt p = chunker.chunk(prompt);
        assertEquals(2, p.chunkCount());
        float[] second = p.chunks().get(1).multipliers();
        assertEquals(1.5f, second[1]);
        assertEquals(1f, second[2]);
        assertFalse(p.chunks().get(0).weighted());
        assertTrue(p.chunks().get(1).weighted());
    }

    @Test
    void weightsFollowTheirTokens() {
        ChunkedPrompt p = chunker.chunk("a [cat] (dog:0.7) ((cat))");
        ChunkedPrompt.Chunk c = p.chunks().get(0);
        assertArrayEquals(tok.encode("a cat dog cat").ids(), c.ids());
        float[] expect = ones();
        expect[2] = (float) (1 / 1.1);
        expect[3] = 0.7f;
        expect[4] = (float) (1.1 * 1.1);
        assertArrayEquals(expect, c.multipliers());
        assertTrue(p.weighted());
        assertFalse(chunker.chunk("(cat:1)").weighted(), "weight 1 is no weight");
    }

    @Test
    void sd2PaddingUsesThePadId() {
        ClipTokenizer sd2 = ClipTokenizer.bundled(0);
        PromptChunker c2 = new PromptChunker(sd2);
        assertArrayEquals(sd2.encode("a photo of a cat").ids(), c2.chunk("a photo of a cat").chunks().get(0).ids());
        int[] second = c2.chunk("cat ".repeat(76)).chunks().get(1).ids();
        assertEquals(sd2.bosId(), second[0]);
        assertEquals(cat, second[1]);
        assertEquals(sd2.eosId(), second[2]);
        assertEquals(0, second[3]);
        assertEquals(0, second[76]);
    }
}
