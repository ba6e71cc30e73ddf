package org.diffusionbot.common;

import java.util.Locale;
import org.diffusionbot.common.messages.WorkerHeartbeat;

/**
 * What the bot knows of a model from the heartbeats of the workers that serve it: its family (the limits
 * a job must keep) and its native size ({@code /imagine}'s default size, the base of the {@code ar}
 * buckets).
 *
 * @param family the model family
 * @param nativeWidth the width the model was trained at
 * @param nativeHeight the height it was trained at
 */
public record ModelSpec(ModelFamily family, int nativeWidth, int nativeHeight) {
    /** A model no worker describes (an older worker's heartbeat): SD 1.x at 512×512, the strictest limits. */
    public static final ModelSpec UNKNOWN = new ModelSpec(ModelFamily.SD1, GenerationLimits.DEFAULT_SIZE,
            GenerationLimits.DEFAULT_SIZE);

    /** What a heartbeat says of a model; a family this build does not know counts as SD 1.x. */
    public static ModelSpec of(WorkerHeartbeat.ModelInfo info) {
        ModelFamily f;
        try {
            f = ModelFamily.fromId(info.family().toLowerCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            f = ModelFamily.SD1;
        }
        return new ModelSpec(f, info.nativeWidth(), info.nativeHeight());
    }

    /** The model's bucket for an aspect ratio ({@link AspectRatio#bucket}). */
    public int[] bucket(AspectRatio ratio) {
        return ratio.bucket(nativeWidth, nativeHeight);
    }
}
