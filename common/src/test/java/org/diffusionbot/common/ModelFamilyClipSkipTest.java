package org.diffusionbot.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Each family's clip skip range: what its text encoders can give (ClipTextEncoder.encode / encodeHidden). */
class ModelFamilyClipSkipTest {
    @Test
    void sd1AndSd2TakeTheSharedRangeSdxlOneLess() {
        assertEquals(GenerationLimits.MAX_CLIP_SKIP, ModelFamily.SD1.maxClipSkip());
        assertEquals(GenerationLimits.MAX_CLIP_SKIP, ModelFamily.SD2.maxClipSkip());
        assertEquals(GenerationLimits.MAX_CLIP_SKIP - 1, ModelFamily.SDXL.maxClipSkip());
        assertEquals(12, ModelFamily.SD1.checkClipSkip(12));
        assertEquals(11, ModelFamily.SDXL.checkClipSkip(11));
        assertEquals("SDXL models take clip skip 1 to 11, got 12",
                assertThrows(IllegalArgumentException.class, () -> ModelFamily.SDXL.checkClipSkip(12)).getMessage());
        assertEquals("SD 1.x models take clip skip 1 to 12, got 0",
                assertThrows(IllegalArgumentException.class, () -> ModelFamily.SD1.checkClipSkip(0)).getMessage());
    }
}
