package org.diffusionbot.worker.engine.lora;

/**
 * A LoRA or embedding a job names cannot be used: unknown name, a pickled file, another model
 * family, or keys that map to nothing in the model. The message says which file and why, in words
 * a user can act on; the job fails as an invalid request and nothing else is affected.
 */
public class LoraException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** @param message what is wrong and, where possible, what to do */
    public LoraException(String message) {
        super(message);
    }
}
