package org.diffusionbot.worker.engine.lora;

import java.util.Locale;

/**
 * The model family a LoRA or embedding was trained for: a LoRA only fits models of its family
 * (an SD 1.x LoRA on SDXL is refused). {@link #UNKNOWN} when a file does not tell.
 */
public enum LoraFamily {
    SD1,
    SD2,
    SDXL,
    UNKNOWN;

    /** @return the lower-case name used in messages and heartbeats ({@code sd1}, {@code sd2}, {@code sdxl}, {@code unknown}) */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** @return a human name for messages ({@code SD 1.x}, {@code SD 2.x}, {@code SDXL}) */
    public String label() {
        return switch (this) {
            case SD1 -> "SD 1.x";
            case SD2 -> "SD 2.x";
            case SDXL -> "SDXL";
            case UNKNOWN -> "an unknown model family";
        };
    }
}
