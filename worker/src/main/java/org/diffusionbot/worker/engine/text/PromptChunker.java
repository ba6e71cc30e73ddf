package org.diffusionbot.worker.engine.text;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Cuts a prompt into context windows the way Automatic1111 does ({@code tokenize_line} of its
 * {@code FrozenCLIPEmbedderWithCustomWordsBase}): the prompt is parsed with {@link PromptParser},
 * each piece is tokenized on its own (no bos/eos), and the tokens, each with its piece's weight,
 * fill chunks of {@code maxLength - 2} (75) tokens; every chunk is wrapped in bos ... eos and padded
 * to {@code maxLength} (77).
 *
 * <ul>
 *   <li>A prompt of up to 75 tokens is one chunk, with exactly the ids of {@link
 *       ClipTokenizer#encode} (so an unweighted short prompt is encoded as diffusers encodes it).
 *   <li>{@code BREAK} closes the current chunk (padding it) and starts a new one.
 *   <li>Comma backtrack: when a chunk is full and the next token is not a comma, but the chunk's
 *       last comma is at most {@code commaBacktrack} (default 20) tokens from its end, the tokens
 *       after that comma move to the next chunk, so a phrase is not split across chunks. 0 turns
 *       this off.
 *   <li>Textual-inversion embeddings ({@link TextualInversion}): a trigger's tokens are replaced by
 *       the embedding's vectors (ids past the vocabulary), which count as that many tokens; an
 *       embedding that does not fit in the current chunk starts the next one.
 *   <li>An empty prompt, or one that is only a {@code BREAK}'s trailing text, still has one chunk.
 * </ul>
 *
 * <p>Padding: Automatic1111 pads with eos and, for SD 2.x, replaces everything after the first eos
 * with the pad id; here the chunk is bos, content, eos, then the tokenizer's pad id, which is the
 * same ids (and what diffusers uses).
 */
public final class PromptChunker {
    /** Automatic1111's {@code comma_padding_backtrack} default. */
    public static final int DEFAULT_COMMA_BACKTRACK = 20;

    private final ClipTokenizer tokenizer;
    private final int commaBacktrack;
    private final int chunkLength;
    private final int commaId;
    private final TextualInversion embeddings;

    /** A chunker with the default comma backtrack (20). */
    public PromptChunker(ClipTokenizer tokenizer) {
        this(tokenizer, DEFAULT_COMMA_BACKTRACK);
    }

    /**
     * @param tokenizer the CLIP tokenizer; its {@link ClipTokenizer#maxLength()} is the chunk size
     * @param commaBacktrack how far back (in tokens) a comma may be to move the rest of a full chunk
     *     to the next one; 0 turns it off
     */
    public PromptChunker(ClipTokenizer tokenizer, int commaBacktrack) {
        this(tokenizer, commaBacktrack, TextualInversion.NONE);
    }

    /**
     * @param tokenizer the CLIP tokenizer; its {@link ClipTokenizer#maxLength()} is the chunk size
     * @param commaBacktrack how far back (in tokens) a comma may be to move the rest of a full chunk
     *     to the next one; 0 turns it off
     * @param embeddings textual-inversion embeddings whose triggers are replaced by their vectors
     */
    public PromptChunker(ClipTokenizer tokenizer, int commaBacktrack, TextualInversion embeddings) {
        this.embeddings = java.util.Objects.requireNonNull(embeddings);
        this.tokenizer = Objects.requireNonNull(tokenizer);
        if (commaBacktrack < 0) {
            throw new IllegalArgumentException("commaBacktrack must be ≥ 0");
        }
        this.commaBacktrack = commaBacktrack;
        this.chunkLength = tokenizer.maxLength() - 2;
        int[] comma = tokenizer.tokenize(",");
        this.commaId = comma.length == 1 ? comma[0] : -1;
    }

    public ClipTokenizer tokenizer() {
        return tokenizer;
    }

    /** Content tokens per chunk (75). */
    public int chunkLength() {
        return chunkLength;
    }

    public int commaBacktrack() {
        return commaBacktrack;
    }

    /** @return the textual-inversion embeddings this chunker replaces */
    public TextualInversion embeddings() {
        return embeddings;
    }

    /** @return the same chunker with other embeddings */
    public PromptChunker withEmbeddings(TextualInversion other) {
        return new PromptChunker(tokenizer, commaBacktrack, other);
    }

    /** The chunk of an empty prompt: bos, eos, padding; all weights 1. */
    public ChunkedPrompt.Chunk emptyChunk() {
        return wrap(new ArrayList<>(), new ArrayList<>());
    }

    /** Parses and chunks a prompt (null: empty). */
    public ChunkedPrompt chunk(String prompt) {
        return chunk(PromptParser.parse(prompt));
    }

    /** Chunks parsed pieces. */
    public ChunkedPrompt chunk(List<PromptParser.Segment> segments) {
        List<ChunkedPrompt.Chunk> chunks = new ArrayList<>();
        List<Integer> tokens = new ArrayList<>();
        List<Float> weights = new ArrayList<>();
        int lastComma = -1;
        int count = 0;
        for (PromptParser.Segment seg : segments) {
            if (seg.isBreak()) {
                chunks.add(wrap(tokens, weights));
                tokens = new ArrayList<>();
                weights = new ArrayList<>();
                lastComma = -1;
                continue;
            }
            float w = (float) seg.weight();
            int[] ids = tokenizer.tokenize(seg.text());
            int pos = 0;
            while (pos < ids.length) {
                int token = ids[pos];
                if (token == commaId) {
                    lastComma = tokens.size();
                } else if (commaBacktrack != 0 && tokens.size() == chunkLength && lastComma != -1
                        && tokens.size() - lastComma <= commaBacktrack) {
                    int cut = lastComma + 1;
                    List<Integer> movedTokens = new ArrayList<>(tokens.subList(cut, tokens.size()));
                    List<Float> movedWeights = new ArrayList<>(weights.subList(cut, weights.size()));
                    chunks.add(wrap(tokens.subList(0, cut), weights.subList(0, cut)));
                    tokens = movedTokens;
                    weights = movedWeights;
                    lastComma = -1;
                }
                if (tokens.size() == chunkLength) {
                    chunks.add(wrap(tokens, weights));
                    tokens = new ArrayList<>();
                    weights = new ArrayList<>();
                    lastComma = -1;
                }
                TextualInversion.Token embedding = embeddings.match(ids, pos);
                if (embedding == null) {
                    tokens.add(token);
                    weights.add(w);
                    count++;
                    pos++;
                    continue;
                }
                if (tokens.size() + embedding.count() > chunkLength) { // an embedding never straddles two chunks
                    chunks.add(wrap(tokens, weights));
                    tokens = new ArrayList<>();
                    weights = new ArrayList<>();
                    lastComma = -1;
                }
                for (int k = 0; k < embedding.count(); k++) {
                    tokens.add(embedding.firstId() + k);
                    weights.add(w);
                }
                count += embedding.count();
                pos += embedding.trigger().length;
            }
        }
        if (!tokens.isEmpty() || chunks.isEmpty()) {
            chunks.add(wrap(tokens, weights));
        }
        return new ChunkedPrompt(chunks, count);
    }

    private ChunkedPrompt.Chunk wrap(List<Integer> tokens, List<Float> weights) {
        int len = chunkLength + 2;
        int[] ids = new int[len];
        float[] mult = new float[len];
        Arrays.fill(ids, tokenizer.padId());
        Arrays.fill(mult, 1f);
        ids[0] = tokenizer.bosId();
        for (int i = 0; i < tokens.size(); i++) {
            ids[i + 1] = tokens.get(i);
            mult[i + 1] = weights.get(i);
        }
        ids[tokens.size() + 1] = tokenizer.eosId();
        return new ChunkedPrompt.Chunk(ids, mult);
    }
}
