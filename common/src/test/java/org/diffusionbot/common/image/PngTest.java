package org.diffusionbot.common.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.junit.jupiter.api.Test;

class PngTest {
    @Test
    void pixelsSurviveAStandardDecoder() throws IOException {
        int w = 5;
        int h = 3;
        byte[] rgb = new byte[w * h * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 17);
        }
        byte[] png = Png.encodeRgb(w, h, rgb, Map.of());
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(w, img.getWidth());
        assertEquals(h, img.getHeight());
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = (y * w + x) * 3;
                int expected = ((rgb[p] & 255) << 16) | ((rgb[p + 1] & 255) << 8) | (rgb[p + 2] & 255);
                assertEquals(expected, img.getRGB(x, y) & 0xFFFFFF, "pixel " + x + "," + y);
            }
        }
    }

    @Test
    void parametersChunkReadsBackInAutomatic1111Format() throws IOException {
        GenerationParameters p = new GenerationParameters("a castle", "blurry", 30, Sampler.DPMPP_2M_KARRAS, 7.5, 42,
                512, 768, "sd15", 2, null);
        byte[] png = p.toPng(2, 1, new byte[6]);
        assertEquals("a castle\nNegative prompt: blurry\n"
                + "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size: 512x768, Model: sd15, "
                + "Clip skip: 2", Png.readText(png).get("parameters"));
    }

    /** Sampler and Schedule type as Automatic1111 1.9+ writes them; the default schedule is not written. */
    @Test
    void samplerAndScheduleTypeAsAutomatic1111WritesThem() {
        assertEquals("Steps: 25, Sampler: DPM++ 2M SDE, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, Model: m",
                params(Sampler.DPMPP_2M_SDE_KARRAS, null));
        assertEquals("Steps: 25, Sampler: DPM++ 2M SDE, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, Model: m",
                params(Sampler.DPMPP_2M_SDE, Schedule.KARRAS));
        assertEquals("Steps: 25, Sampler: Euler, Schedule type: SGM Uniform, CFG scale: 7, Seed: 1, Size: 512x512, Model: m",
                params(Sampler.EULER, Schedule.TRAILING));
        assertEquals("Steps: 25, Sampler: DPM++ 2M, Schedule type: Exponential, CFG scale: 7, Seed: 1, Size: 512x512, Model: m",
                params(Sampler.DPMPP_2M, Schedule.EXPONENTIAL));
        assertEquals("Steps: 25, Sampler: LCM, CFG scale: 7, Seed: 1, Size: 512x512, Model: m",
                params(Sampler.LCM, Schedule.DEFAULT));
        assertEquals("Steps: 25, Sampler: Heun, CFG scale: 7, Seed: 1, Size: 512x512, Model: m", params(Sampler.HEUN, null));
        assertEquals("Steps: 25, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: m",
                params(Sampler.EULER_A, null));
    }

    private static String params(Sampler s, Schedule schedule) {
        return new GenerationParameters("p", "", 25, s, 7, 1, 512, 512, "m", 1, null, schedule).toA1111().substring(2);
    }

    @Test
    void guidanceRescaleIsWrittenAsTheCfgRescaleExtensionWritesIt() throws IOException {
        GenerationParameters p = new GenerationParameters("a castle", "", 30, Sampler.EULER, 7, 42, 1024, 1024,
                "noob-vpred", 2, 0.5, null, 0.7);
        assertEquals("a castle\nSteps: 30, Sampler: Euler, CFG scale: 7, Seed: 42, Size: 1024x1024, Model: noob-vpred, "
                + "Denoising strength: 0.5, Clip skip: 2, CFG Rescale φ: 0.7",
                Png.readText(p.toPng(1, 1, new byte[3])).get("parameters"));
        assertEquals(0.7, GenerationParameters.guidanceRescaleOf(p.toA1111(Map.of("Lora hashes", "a: 1, b: 2"))));
        assertEquals(0.0, GenerationParameters.guidanceRescaleOf(new GenerationParameters("CFG Rescale φ: 0.7", "", 30,
                Sampler.EULER, 7, 42, 64, 64, "m", 1, null).toA1111()), "the prompt does not count");
        assertEquals(0.0, GenerationParameters.guidanceRescaleOf(null));
    }

    @Test
    void extraFieldsFollowQuotedAsAutomatic1111QuotesThem() {
        GenerationParameters p = new GenerationParameters("a castle <lora:Water, Color:0.8>", "", 20, Sampler.EULER, 7, 1,
                512, 512, "sd15", 1, null);
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put("Lora hashes", "Water Color: 0123456789ab, other: ba9876543210");
        extra.put("Plain", "x");
        extra.put("Quoted", "say \"hi\"\\n");
        assertEquals("a castle <lora:Water, Color:0.8>\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, "
                + "Model: sd15, Lora hashes: \"Water Color: 0123456789ab, other: ba9876543210\", Plain: x, Quoted: say \"hi\"\\n",
                p.toA1111(extra));
        assertEquals("\"a: \\\"b\\\"\"", GenerationParameters.quote("a: \"b\""));
    }

    @Test
    void nonLatinTextUsesUtf8() throws IOException {
        Map<String, String> text = new LinkedHashMap<>();
        text.put("parameters", "猫 🐱 café");
        text.put("Software", "diffusion-bot");
        assertEquals(text, Png.readText(Png.encodeRgb(1, 1, new byte[3], text)));
    }

    @Test
    void malformedPngsAreRefused() {
        assertThrows(IOException.class, () -> Png.readText(new byte[] {1, 2, 3}));
        byte[] png = Png.encodeRgb(1, 1, new byte[3], Map.of("a", "b"));
        assertThrows(IOException.class, () -> Png.readText(Arrays.copyOf(png, 20)));
        assertThrows(IllegalArgumentException.class, () -> Png.encodeRgb(2, 2, new byte[3], Map.of()));
    }
}
