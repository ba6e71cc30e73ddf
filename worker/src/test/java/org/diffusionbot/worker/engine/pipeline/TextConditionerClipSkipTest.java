package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.types.DataType;
import org.diffusionbot.common.Sampler;
import org.junit.jupiter.api.Test;

/**
 * The clip skip each family's text conditioning encodes a request with (Automatic1111's numbering: N =
 * {@code hidden_states[-N]}): a request without one gets the family's default, SD 1.x/2.x the last layer (1, with
 * the final layer norm: {@code ClipTextEncoder.encode}), SDXL the penultimate (2, without it:
 * {@code encodeHidden}); an explicit one is taken as it is, for SDXL too.
 */
class TextConditionerClipSkipTest {
    private static final GenerationRequest NONE = GenerationRequest.of("a fox", 64, 64, 2, Sampler.EULER, 1);

    @Test
    void sd1AndSd2() {
        TextConditioner clip = TextConditioner.of(null, null, DataType.FLOAT32);
        assertEquals(0, NONE.clipSkip());
        assertEquals(1, clip.clipSkip(NONE), "the last layer");
        assertEquals(1, clip.clipSkip(NONE.withClipSkip(1)));
        assertEquals(2, clip.clipSkip(NONE.withClipSkip(2)));
        assertEquals(12, clip.clipSkip(NONE.withClipSkip(12)));
    }

    @Test
    void sdxl() {
        TextConditioner xl = new TextConditioner.Sdxl(null, null, DataType.FLOAT32);
        assertEquals(2, xl.clipSkip(NONE), "the penultimate layer, diffusers' default");
        assertEquals(2, xl.clipSkip(NONE.withClipSkip(2)), "SDXL finetunes' 'clip skip 2' is the default");
        assertEquals(1, xl.clipSkip(NONE.withClipSkip(1)), "the last layer");
        assertEquals(3, xl.clipSkip(NONE.withClipSkip(3)), "one layer deeper");
        assertEquals(12, xl.clipSkip(NONE.withClipSkip(12)));
    }
}
