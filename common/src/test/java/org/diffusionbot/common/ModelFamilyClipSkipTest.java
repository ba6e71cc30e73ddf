package org.diffusionbot.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/**
 * One clip skip numbering for every family (Automatic1111's: N = {@code hidden_states[-N]}, 1..12), and each
 * family's default: SD 1.x/2.x the last layer (1), SDXL the penultimate (2).
 */
class ModelFamilyClipSkipTest {
    @Test
    void eachFamilysDefault() {
        assertEquals(1, ModelFamily.SD1.defaultClipSkip());
        assertEquals(1, ModelFamily.SD2.defaultClipSkip());
        assertEquals(2, ModelFamily.SDXL.defaultClipSkip(), "SDXL conditions on the penultimate layer");
    }

    @Test
    void aJobWithoutClipSkipRunsTheFamilysDefaultAnExplicitOneItself() {
        int none = GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP;
        assertEquals(0, none);
        assertEquals(1, ModelFamily.SD1.effectiveClipSkip(none));
        assertEquals(2, ModelFamily.SDXL.effectiveClipSkip(none));
        for (ModelFamily f : ModelFamily.values()) {
            for (int n = GenerationLimits.MIN_CLIP_SKIP; n <= GenerationLimits.MAX_CLIP_SKIP; n++) {
                assertEquals(n, f.effectiveClipSkip(n), f + " " + n);
            }
        }
        assertEquals("clip skip must be between 1 and 12, got 13",
                assertThrows(IllegalArgumentException.class, () -> ModelFamily.SDXL.effectiveClipSkip(13)).getMessage());
        assertEquals("clip skip must be between 1 and 12, got -1",
                assertThrows(IllegalArgumentException.class, () -> ModelFamily.SD1.effectiveClipSkip(-1)).getMessage());
    }

    @Test
    void aChosenClipSkipEqualToTheFamilysDefaultIsRecordedAsNone() {
        assertEquals(0, ModelFamily.SD1.jobClipSkip(1));
        assertEquals(2, ModelFamily.SD1.jobClipSkip(2));
        assertEquals(0, ModelFamily.SD2.jobClipSkip(1));
        assertEquals(1, ModelFamily.SDXL.jobClipSkip(1), "SDXL's 1 is its last layer, not its default");
        assertEquals(0, ModelFamily.SDXL.jobClipSkip(2), "SDXL's 'clip skip 2' is its default");
        assertEquals(3, ModelFamily.SDXL.jobClipSkip(3));
        assertEquals(12, ModelFamily.SDXL.jobClipSkip(12), "every family takes 1 to 12");
        assertEquals("clip skip must be between 1 and 12, got 0",
                assertThrows(IllegalArgumentException.class, () -> ModelFamily.SDXL.jobClipSkip(0)).getMessage());
    }

    @Test
    void jobsCarryZeroOrAChosenClipSkip() {
        assertEquals(0, GenerationLimits.checkJobClipSkip(0));
        assertEquals(12, GenerationLimits.checkJobClipSkip(12));
        assertEquals("clip skip must be between 1 and 12, got 13",
                assertThrows(IllegalArgumentException.class, () -> GenerationLimits.checkJobClipSkip(13)).getMessage());
        assertEquals("clip skip must be between 1 and 12, got 0",
                assertThrows(IllegalArgumentException.class, () -> GenerationLimits.checkClipSkip(0)).getMessage(),
                "a user chooses 1 to 12");
    }
}
