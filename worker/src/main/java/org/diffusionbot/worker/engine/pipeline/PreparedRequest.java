package org.diffusionbot.worker.engine.pipeline;

import java.util.Objects;

/**
 * A request made ready to run, once ({@link StableDiffusionPipeline#prepare}): its prompts tokenized
 * and chunked by the model's text encoders, and its {@link BatchKey} (with the chunk count). A worker
 * prepares a job when it is delivered, batches by the key and runs the same value, so nothing is
 * converted or tokenized twice.
 */
public final class PreparedRequest {
    private final GenerationRequest request;
    private final BatchKey key;
    private final TextConditioner.Tokens tokens;

    PreparedRequest(GenerationRequest request, TextConditioner.Tokens tokens) {
        this.request = Objects.requireNonNull(request);
        this.tokens = Objects.requireNonNull(tokens);
        this.key = BatchKey.of(request, tokens.promptChunks());
    }

    /** @return the request */
    public GenerationRequest request() {
        return request;
    }

    /** @return its batch key: requests with equal keys run together with the images each gives alone */
    public BatchKey key() {
        return key;
    }

    /** The tokens, by the conditioner that made them (a pipeline re-tokenizes those of another: {@link StableDiffusionPipeline#useAddons}). */
    TextConditioner.Tokens tokens() {
        return tokens;
    }

    @Override
    public String toString() {
        return "PreparedRequest[" + key + "]";
    }
}
