package org.diffusionbot.bot.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Map;
import javax.imageio.ImageIO;
import org.diffusionbot.common.image.Png;
import org.junit.jupiter.api.Test;

class ThumbnailsTest {
    static byte[] png(int w, int h) {
        byte[] rgb = new byte[w * h * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 7);
        }
        return Png.encodeRgb(w, h, rgb, Map.of("parameters", "x"));
    }

    static BufferedImage jpeg(byte[] bytes) throws IOException {
        return ImageIO.read(new ByteArrayInputStream(bytes));
    }

    @Test
    void largeImagesAreScaledToTheMaxSideAndSmallOnesKeptAsJpeg() throws IOException {
        for (int round = 0; round < 3; round++) { // the thread's reader and writer are reused
            BufferedImage big = jpeg(Thumbnails.of(png(512, 768)));
            assertEquals(171, big.getWidth());
            assertEquals(256, big.getHeight());
            BufferedImage small = jpeg(Thumbnails.of(png(64, 48)));
            assertEquals(64, small.getWidth());
            assertEquals(48, small.getHeight());
        }
    }

    @Test
    void somethingElseThanAPngIsRefusedAndTheNextImageStillWorks() throws IOException {
        assertThrows(IOException.class, () -> Thumbnails.of(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9}));
        assertEquals(64, jpeg(Thumbnails.of(png(64, 64))).getWidth());
    }
}
