package org.diffusionbot.worker.engine.text;

import java.util.List;

/**
 * A prompt cut into chunks of the text encoder's context (see {@link PromptChunker}).
 *
 * @param chunks at least one chunk
 * @param tokenCount the prompt's content tokens (without bos, eos and padding)
 */
public record ChunkedPrompt(List<Chunk> chunks, int tokenCount) {
    public ChunkedPrompt {
        chunks = List.copyOf(chunks);
        if (chunks.isEmpty()) {
            throw new IllegalArgumentException("a prompt has at least one chunk");
        }
    }

    /**
     * One context window: bos, up to 75 content tokens, eos, padding.
     *
     * @param ids the token ids (77 for CLIP)
     * @param multipliers each token's emphasis weight (1 for bos, eos and padding)
     */
    public record Chunk(int[] ids, float[] multipliers) {
        public Chunk {
            if (ids.length != multipliers.length) {
                throw new IllegalArgumentException("ids and multipliers differ in length");
            }
        }

        /** Whether some token has a weight other than 1. */
        public boolean weighted() {
            for (float w : multipliers) {
                if (w != 1f) {
                    return true;
                }
            }
            return false;
        }
    }

    /** The number of chunks. */
    public int chunkCount() {
        return chunks.size();
    }

    /** Whether some token of some chunk has a weight other than 1 (emphasis to apply). */
    public boolean weighted() {
        for (Chunk c : chunks) {
            if (c.weighted()) {
                return true;
            }
        }
        return false;
    }
}
