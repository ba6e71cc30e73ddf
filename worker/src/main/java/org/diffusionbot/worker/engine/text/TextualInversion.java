package org.diffusionbot.worker.engine.text;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Textual-inversion embeddings of one text encoder, as AUTOMATIC1111 uses them ({@code
 * EmbeddingDatabase.find_embedding_at_position} and {@code EmbeddingsWithFixes}): an embedding's
 * trigger is the tokenization of its name; where a prompt's tokens contain it, the embedding's
 * vectors take the place of those tokens (its {@code count} vectors fill {@code count} positions,
 * so a prompt may grow or shrink), longest trigger first.
 *
 * <p>Each vector gets a token id past the vocabulary ({@code vocabSize + k}); the text encoder takes
 * rows of {@link #table} for those ids instead of its token embedding.
 */
public final class TextualInversion {
    /** No embeddings. */
    public static final TextualInversion NONE = new TextualInversion(List.of(), 0, new float[0], 0);

    /**
     * One embedding as tokens.
     *
     * @param name its name
     * @param trigger the BPE ids of its name
     * @param firstId the id of its first vector
     * @param count its number of vectors
     */
    public record Token(String name, int[] trigger, int firstId, int count) {}

    /**
     * An embedding to add.
     *
     * @param name its trigger word
     * @param vectors {@code count × hidden} floats, row-major
     */
    public record Vectors(String name, float[] vectors) {}

    private final List<Token> tokens;
    private final int vocabSize;
    private final float[] table;
    private final int hidden;

    private TextualInversion(List<Token> tokens, int vocabSize, float[] table, int hidden) {
        this.tokens = List.copyOf(tokens);
        this.vocabSize = vocabSize;
        this.table = table;
        this.hidden = hidden;
    }

    /**
     * @param tokenizer the encoder's tokenizer (triggers are tokenized with it)
     * @param vocabSize the encoder's vocabulary size (ids from here on are embedding vectors)
     * @param hidden the encoder's hidden size
     * @param embeddings the embeddings (at most 75 vectors each)
     * @return the embeddings as tokens
     * @throws IllegalArgumentException for a vector count or width that does not fit
     */
    public static TextualInversion of(ClipTokenizer tokenizer, int vocabSize, int hidden, List<Vectors> embeddings) {
        List<Token> tokens = new ArrayList<>();
        float[] table = new float[embeddings.stream().mapToInt(e -> e.vectors().length).sum()];
        int next = 0;
        for (Vectors e : embeddings) {
            int count = e.vectors().length / hidden;
            if (count == 0 || count * hidden != e.vectors().length || count > tokenizer.maxLength() - 2) {
                throw new IllegalArgumentException("embedding " + e.name() + ": " + e.vectors().length + " values are not 1 to "
                        + (tokenizer.maxLength() - 2) + " vectors of " + hidden);
            }
            int[] trigger = tokenizer.tokenize(e.name());
            if (trigger.length > 0) {
                tokens.add(new Token(e.name(), trigger, vocabSize + next, count));
            }
            System.arraycopy(e.vectors(), 0, table, next * hidden, e.vectors().length);
            next += count;
        }
        tokens.sort(Comparator.comparingInt((Token t) -> -t.trigger().length));
        return new TextualInversion(tokens, vocabSize, table, hidden);
    }

    /** @return the embeddings, longest trigger first */
    public List<Token> tokens() {
        return tokens;
    }

    /** @return whether there are none */
    public boolean isEmpty() {
        return tokens.isEmpty();
    }

    /** @return the first id of the embedding vectors (the encoder's vocabulary size) */
    public int vocabSize() {
        return vocabSize;
    }

    /**
     * @param ids a piece's BPE ids
     * @param pos a position in them
     * @return the embedding whose trigger starts at {@code pos}, or null
     */
    public Token match(int[] ids, int pos) {
        for (Token t : tokens) {
            if (pos + t.trigger().length <= ids.length
                    && Arrays.equals(ids, pos, pos + t.trigger().length, t.trigger(), 0, t.trigger().length)) {
                return t;
            }
        }
        return null;
    }

    /**
     * @param manager owner of the result
     * @param dtype its type
     * @param device its device
     * @return the vectors (total count, hidden); row k is id {@code vocabSize + k}
     */
    public NDArray table(NDManager manager, DataType dtype, Device device) {
        NDArray cpu = manager.create(table, new Shape(table.length / Math.max(1, hidden), hidden));
        NDArray out = cpu.toDevice(device, false).toType(dtype, false);
        if (out != cpu) {
            cpu.close();
        }
        return out;
    }
}
