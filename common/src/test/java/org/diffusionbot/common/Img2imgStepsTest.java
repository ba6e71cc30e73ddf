package org.diffusionbot.common;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** An img2img job must run at least one denoising step: floor(steps × strength) ≥ 1, as diffusers' get_timesteps. */
class Img2imgStepsTest {
    @ParameterizedTest
    @CsvSource({"20, 0.6, 12", "2, 0.35, 0", "3, 0.35, 1", "1, 0.6, 0", "2, 0.6, 1", "8, 0.6, 4", "5, 1.0, 5"})
    void stepsFollowDiffusers(int steps, double strength, int expected) {
        assertEquals(expected, GenerationLimits.img2imgSteps(steps, strength));
    }

    @ParameterizedTest
    @CsvSource({"2, 0.35, 3", "1, 0.6, 2", "1, 0.35, 3"})
    void aJobWithoutADenoisingStepIsRefused(int steps, double strength, int needed) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GenerationLimits.checkImg2img(steps, strength));
        assertTrue(e.getMessage().contains("runs no denoising step") && e.getMessage().contains(
                "at least " + needed + " steps"), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"3, 0.35", "2, 0.6", "1, 1.0"})
    void oneStepIsEnough(int steps, double strength) {
        assertDoesNotThrow(() -> GenerationLimits.checkImg2img(steps, strength));
    }
}
