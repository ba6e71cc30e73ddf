package org.diffusionbot.worker.engine.text;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Objects;
import org.diffusionbot.worker.engine.models.ClipTextEncoder;

/**
 * Text conditioning with Automatic1111's emphasis and long prompts ({@code
 * FrozenCLIPEmbedderWithCustomWordsBase.forward} with the default "Original" emphasis): each chunk of
 * 77 ids goes through the CLIP text encoder on its own, each token's hidden state is multiplied by
 * its weight and the chunk is then rescaled so that its mean over all 77 × hidden values is the mean
 * it had before weighting ({@code z = z·w; z = z·(mean_before / mean_after)}); the chunks are
 * concatenated along the sequence, giving 77·k tokens.
 *
 * <p>The weighting is computed in float32 and only when some token of the group has a weight other
 * than 1; otherwise the text encoder's output is returned untouched, so an unweighted prompt of up
 * to 75 tokens gets exactly diffusers' conditioning. The mean is taken per chunk of each prompt
 * (Automatic1111 takes it over the chunk's batch, which for its usual one-prompt batch is the same).
 */
public final class PromptEncoder {
    private final PromptChunker chunker;
    private final ClipTextEncoder encoder;
    private final NDArray embeddingTable;

    /**
     * @param chunker the chunker (and tokenizer) of the encoder
     * @param encoder the CLIP text encoder
     */
    public PromptEncoder(PromptChunker chunker, ClipTextEncoder encoder) {
        this.chunker = Objects.requireNonNull(chunker);
        this.encoder = Objects.requireNonNull(encoder);
        this.embeddingTable = null;
    }

    /**
     * An encoder whose chunker replaces textual-inversion triggers ({@link PromptChunker#embeddings()}).
     *
     * @param chunker the chunker, with its embeddings
     * @param encoder the CLIP text encoder
     * @param manager long-lived owner of the embedding vectors
     * @param dtype the encoder's dtype
     * @param device the encoder's device
     */
    public PromptEncoder(PromptChunker chunker, ClipTextEncoder encoder, NDManager manager, DataType dtype,
            ai.djl.Device device) {
        this.chunker = Objects.requireNonNull(chunker);
        this.encoder = Objects.requireNonNull(encoder);
        this.embeddingTable = chunker.embeddings().isEmpty() ? null : chunker.embeddings().table(manager, dtype, device);
    }

    public PromptChunker chunker() {
        return chunker;
    }

    /** Chunks one prompt; see {@link PromptChunker#chunk(String)}. */
    public ChunkedPrompt chunk(String prompt) {
        return chunker.chunk(prompt);
    }

    /**
     * Encodes prompts as one batch of text-encoder rows, every prompt brought to {@code chunks}
     * chunks: shorter ones are followed by chunks of the empty prompt (as Automatic1111 pads the
     * shorter of prompt and negative prompt), longer ones are cut after {@code chunks} chunks.
     *
     * <p>The text encoder sees one (P·chunks, 77) batch, rows prompt-major ({@code p·chunks + c}); for
     * one chunk and [negative, positive] that is exactly the (2, 77) batch diffusers encodes.
     *
     * @param caller owner of the result
     * @param prompts chunked prompts
     * @param chunks chunks per prompt in the result (≥ 1)
     * @param clipSkip 1 = last CLIP layer, 2 = penultimate, ... ({@link ClipTextEncoder#encode(NDManager, NDArray, int)})
     * @return (P, 77·chunks, hidden) in the encoder's dtype
     */
    public NDArray encode(NDManager caller, List<ChunkedPrompt> prompts, int chunks, int clipSkip) {
        return run(caller, prompts, chunks,
                (m, ids) -> new ClipTextEncoder.Hidden(encoder.encode(m, ids, clipSkip, embeddingTable), null))
                .hidden();
    }

    /**
     * As {@link #encode}, but with the layers SDXL conditions on ({@link ClipTextEncoder#encodeHidden}:
     * {@code hidden_states[-clipSkip]}, no final layer norm) and, for an encoder with a
     * projection, the pooled {@code text_embeds} of each prompt's first chunk, unweighted (as
     * Automatic1111 takes it: {@code zs[0].pooled}).
     *
     * @param caller owner of the result
     * @param prompts chunked prompts
     * @param chunks chunks per prompt in the result (≥ 1)
     * @param clipSkip 1 = the last layer, 2 = the penultimate layer (SDXL's default), 3 = the one before, ...
     * @return (P, 77·chunks, hidden) and, with a projection, (P, projection_dim), in the encoder's dtype
     */
    public ClipTextEncoder.Hidden encodeHidden(NDManager caller, List<ChunkedPrompt> prompts, int chunks, int clipSkip) {
        boolean pooled = encoder.config().projectionDim() > 0;
        return run(caller, prompts, chunks, (m, ids) -> encoder.encodeHidden(m, ids, clipSkip, pooled, embeddingTable));
    }

    private ClipTextEncoder.Hidden run(NDManager caller, List<ChunkedPrompt> prompts, int chunks,
            java.util.function.BiFunction<NDManager, NDArray, ClipTextEncoder.Hidden> layer) {
        if (chunks < 1) {
            throw new IllegalArgumentException("chunks must be ≥ 1");
        }
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("no prompts");
        }
        int p = prompts.size();
        ChunkedPrompt.Chunk empty = chunker.emptyChunk();
        int len = empty.ids().length;
        long[] ids = new long[p * chunks * len];
        float[] mult = new float[p * chunks * len];
        boolean weighted = false;
        for (int i = 0; i < p; i++) {
            List<ChunkedPrompt.Chunk> own = prompts.get(i).chunks();
            for (int c = 0; c < chunks; c++) {
                ChunkedPrompt.Chunk ch = c < own.size() ? own.get(c) : empty;
                int off = (i * chunks + c) * len;
                for (int j = 0; j < len; j++) {
                    ids[off + j] = ch.ids()[j];
                    mult[off + j] = ch.multipliers()[j];
                }
                weighted |= ch.weighted();
            }
        }
        try (NDManager tmp = caller.newSubManager()) {
            ClipTextEncoder.Hidden h = layer.apply(tmp, tmp.create(ids, new Shape((long) p * chunks, len)));
            NDArray z = h.hidden();
            long hidden = z.getShape().get(2);
            if (weighted) {
                z = applyEmphasis(z, tmp.create(mult, new Shape((long) p * chunks, len, 1)));
            }
            NDArray out = z.reshape(p, (long) chunks * len, hidden);
            out.attach(caller);
            NDArray pooled = null;
            if (h.pooled() != null) { // the first chunk of each prompt
                pooled = h.pooled().reshape(p, chunks, -1).get(":, 0, :");
                pooled.attach(caller);
            }
            return new ClipTextEncoder.Hidden(out, pooled);
        }
    }

    /**
     * Automatic1111's "Original" emphasis on (R, L, D) hidden states with (R, L, 1) weights: per row,
     * {@code z·w · mean(z) / mean(z·w)}, computed in float32, returned in z's dtype.
     */
    static NDArray applyEmphasis(NDArray z, NDArray weights) {
        DataType dtype = z.getDataType();
        Shape shape = z.getShape();
        Shape perRow = new Shape(shape.get(0), 1, 1);
        NDArray z32 = z.toType(DataType.FLOAT32, false);
        NDArray before = z32.reshape(shape.get(0), -1).mean(new int[] {1}).reshape(perRow);
        NDArray weighted = z32.mul(weights.toType(DataType.FLOAT32, false));
        NDArray after = weighted.reshape(shape.get(0), -1).mean(new int[] {1}).reshape(perRow);
        return weighted.mul(before.div(after)).toType(dtype, false);
    }
}
