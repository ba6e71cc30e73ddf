package org.diffusionbot.common;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class SuggestionsTest {
    private static final List<String> NAMES = List.of("sd15_kohya", "sd15_locon", "sd15_peft", "watercolor", "WaterColorXL");

    @Test
    void closeNamesComeFirstAndFarOnesNever() {
        assertEquals(List.of("sd15_kohya"), Suggestions.closest("sd15_koyha", NAMES, 3));
        assertEquals(List.of("watercolor", "WaterColorXL"), Suggestions.closest("watercolour", NAMES, 3));
        assertEquals(List.of("WaterColorXL"), Suggestions.closest("colorxl", NAMES, 3));
        assertEquals(List.of("sd15_kohya", "sd15_locon"), Suggestions.closest("SD15", NAMES, 2));
        assertEquals(List.of(), Suggestions.closest("pixelart", NAMES, 3));
        assertEquals(2, Suggestions.distance("kohya", "koyha"));
    }
}
