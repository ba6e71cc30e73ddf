package org.diffusionbot.worker.engine.io;

/**
 * A model file or folder cannot be used: not safetensors, truncated, malformed header, or tensors
 * missing / unexpected / of the wrong shape. The message names the file (or model) and the problem.
 */
public class ModelFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** @param message what is wrong, including the file name */
    public ModelFormatException(String message) {
        super(message);
    }

    /**
     * @param message what is wrong, including the file name
     * @param cause the underlying error
     */
    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
