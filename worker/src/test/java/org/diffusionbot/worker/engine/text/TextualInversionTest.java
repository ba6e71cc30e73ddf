package org.diffusionbot.worker.engine.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Triggers replaced by embedding vectors in the 75-token chunking, as AUTOMATIC1111's tokenize_line does. */
class TextualInversionTest {
    private static final ClipTokenizer TOKENIZER = ClipTokenizer.bundled();
    private static final int VOCAB = 49408;
    private static final TextualInversion EMBEDDINGS = TextualInversion.of(TOKENIZER, VOCAB, 4, List.of(
            new TextualInversion.Vectors("tinyneg", new float[8]),
            new TextualInversion.Vectors("TinyStyle", new float[12])));

    @Test
    void aTriggerWordBecomesTheEmbeddingsVectors() {
        assertEquals(3, TOKENIZER.tokenize("tinyneg").length, "the README's example: 3 BPE tokens");
        PromptChunker chunker = new PromptChunker(TOKENIZER, 20, EMBEDDINGS);
        ChunkedPrompt p = chunker.chunk("tinyneg, blurry");
        int[] comma = TOKENIZER.tokenize(",");
        int[] blurry = TOKENIZER.tokenize("blurry");
        int[] expected = {TOKENIZER.bosId(), VOCAB, VOCAB + 1, comma[0], blurry[0], TOKENIZER.eosId()};
        assertArrayEquals(expected, Arrays.copyOf(p.chunks().get(0).ids(), 6));
        assertEquals(4, p.tokenCount());
        ChunkedPrompt styled = chunker.chunk("a (tinystyle:1.2) cat");
        int[] ids = styled.chunks().get(0).ids();
        assertArrayEquals(new int[] {VOCAB + 2, VOCAB + 3, VOCAB + 4}, Arrays.copyOfRange(ids, 2, 5), "case-insensitive");
        assertEquals(1.2f, styled.chunks().get(0).multipliers()[3], 1e-6);
        assertEquals(TOKENIZER.tokenize("cat")[0], ids[5]);
    }

    @Test
    void otherWordsAndNoEmbeddingsKeepTheirTokens() {
        PromptChunker with = new PromptChunker(TOKENIZER, 20, EMBEDDINGS);
        PromptChunker without = new PromptChunker(TOKENIZER);
        for (String prompt : new String[] {"tinynegative art", "a tiny neg", "plain words"}) {
            assertArrayEquals(without.chunk(prompt).chunks().get(0).ids(), with.chunk(prompt).chunks().get(0).ids(), prompt);
        }
    }

    @Test
    void anEmbeddingThatDoesNotFitStartsTheNextChunk() {
        PromptChunker chunker = new PromptChunker(TOKENIZER, 0, EMBEDDINGS);
        String prompt = "cat ".repeat(73) + "tinystyle dog";
        ChunkedPrompt p = chunker.chunk(prompt);
        assertEquals(2, p.chunkCount());
        assertEquals(TOKENIZER.eosId(), p.chunks().get(0).ids()[74], "73 cats, then eos: 3 vectors do not fit in 2 places");
        assertArrayEquals(new int[] {VOCAB + 2, VOCAB + 3, VOCAB + 4}, Arrays.copyOfRange(p.chunks().get(1).ids(), 1, 4));
        assertEquals(77, p.tokenCount());
    }
}
