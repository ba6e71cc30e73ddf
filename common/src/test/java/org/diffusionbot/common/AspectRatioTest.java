package org.diffusionbot.common;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AspectRatioTest {
    /** SDXL's standard buckets (the SDXL paper's list, as Fooocus and the A1111 presets use them). */
    @ParameterizedTest
    @CsvSource({"1:1,1024,1024", "3:2,1216,832", "2:3,832,1216", "4:3,1152,896", "3:4,896,1152", "16:9,1344,768",
        "9:16,768,1344", "21:9,1536,640"})
    void sdxlGetsItsStandardBuckets(String ar, int w, int h) {
        assertArrayEquals(new int[] {w, h}, AspectRatio.fromId(ar).bucket(1024, 1024));
    }

    @ParameterizedTest
    @CsvSource({"1:1,512,512", "3:2,576,384", "4:3,576,448", "16:9,576,320", "21:9,768,320", "9:16,320,576"})
    void sd15BucketsStayNearItsNativePixelCount(String ar, int w, int h) {
        int[] b = AspectRatio.fromId(ar).bucket(512, 512);
        assertArrayEquals(new int[] {w, h}, b);
        assertTrue((long) b[0] * b[1] <= 512 * 512);
        assertEquals(0, b[0] % 64);
        assertEquals(0, b[1] % 64);
    }

    @ParameterizedTest
    @CsvSource({"1:1,128,128", "16:9,128,64", "9:16,64,128", "3:2,128,64"})
    void aToyNativeSizeGetsTheClosestRatioThatFits(String ar, int w, int h) {
        assertArrayEquals(new int[] {w, h}, AspectRatio.fromId(ar).bucket(128, 128));
    }

    @ParameterizedTest
    @CsvSource({"5:4", "'1:2'", "wide", "''"})
    void unknownRatiosAreRefusedNamingTheAcceptedOnes(String ar) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AspectRatio.fromId(ar));
        assertEquals("ar must be one of 1:1, 3:2, 2:3, 4:3, 3:4, 16:9, 9:16, 21:9, got " + ar, e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"sdxl,1344,768,true", "sd1,1024,1024,true", "sd1,1088,1024,false", "sd2,1024,1088,false"})
    void familiesHaveTheirOwnPixelLimit(String family, int w, int h, boolean ok) {
        ModelFamily f = ModelFamily.fromId(family);
        if (ok) {
            f.checkSize(w, h);
        } else {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.checkSize(w, h));
            assertTrue(e.getMessage().contains(f.label() + " models: at most " + f.maxPixels() + " pixels"), e.getMessage());
        }
    }

    @org.junit.jupiter.api.Test
    void theContractsPixelLimitIsTheLoosestFamilys() {
        long loosest = java.util.Arrays.stream(ModelFamily.values()).mapToLong(ModelFamily::maxPixels).max().orElseThrow();
        assertEquals(loosest, GenerationLimits.MAX_PIXELS);
        GenerationLimits.checkSize(GenerationLimits.MAX_SIZE, GenerationLimits.MAX_SIZE); // SDXL's upscaled 1024x1024
        ModelFamily.SDXL.checkSize(GenerationLimits.MAX_SIZE, GenerationLimits.MAX_SIZE);
    }
}
