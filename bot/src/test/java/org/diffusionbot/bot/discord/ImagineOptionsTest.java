package org.diffusionbot.bot.discord;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.bot.service.ImagineOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ImagineOptionsTest {
    static JobRequest parse(Map<String, Object> values) {
        ImagineOptions.Options o = new ImagineOptions.Options() {
            @Override
            public String string(String name) {
                return (String) values.get(name);
            }

            @Override
            public Long integer(String name) {
                return (Long) values.get(name);
            }

            @Override
            public Double number(String name) {
                return (Double) values.get(name);
            }
        };
        return ImagineOptions.toRequest(o, "sd15", 5, () -> -1L, Instant.EPOCH);
    }

    @Test
    void defaultsAreSane() {
        JobRequest r = parse(Map.of("prompt", "a fox"));
        assertEquals("sd15", r.model());
        assertEquals(512, r.width());
        assertEquals(512, r.height());
        assertEquals(30, r.steps());
        assertEquals(7.0, r.cfg());
        assertEquals(Sampler.DPMPP_2M_KARRAS, r.sampler());
        assertEquals(1, r.count());
        assertEquals(0xFFFF_FFFFL, r.seed(), "random seeds are masked into the valid range");
    }

    @Test
    void everyOptionIsApplied() {
        Map<String, Object> v = new HashMap<>();
        v.put("prompt", "a fox");
        v.put("negative", "blurry");
        v.put("steps", 20L);
        v.put("cfg", 4.5);
        v.put("seed", 42L);
        v.put("size", "768x512");
        v.put("sampler", "euler_a");
        v.put("count", 4L);
        v.put("model", "anything-v5");
        JobRequest r = parse(v);
        assertEquals("blurry", r.negativePrompt());
        assertEquals(20, r.steps());
        assertEquals(4.5, r.cfg());
        assertEquals(42, r.seed());
        assertEquals(768, r.width());
        assertEquals(512, r.height());
        assertEquals(Sampler.EULER_A, r.sampler());
        assertEquals(4, r.count());
        assertEquals("anything-v5", r.model());
        v.put("width", 640L);
        assertEquals(640, parse(v).width(), "width overrides size");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "steps|0|steps must be between 1 and 150",
        "steps|151|steps must be between 1 and 150",
        "steps|99999999999|steps is out of range",
        "cfg|31.0|cfg must be between 0 and 30",
        "cfg|NaN|cfg must be between 0 and 30",
        "seed|-1|seed must be between 0 and 4294967295",
        "width|100|width must be a multiple of 8",
        "height|4096|height must be a multiple of 8 between 64 and 2048",
        "count|5|count must be between 1 and 4",
        "sampler|warp|unknown sampler 'warp'",
        "size|huge|size must look like 512x768",
        "size|2048x2048|is too large",
        "model|../x|model name '../x'",
        "prompt|'   '|prompt must not be empty",
        "negative|a\u0007b|negative prompt contains a control character",
    })
    void badValuesAreRefusedWithAClearMessage(String option, String value, String expected) {
        Map<String, Object> v = new HashMap<>();
        v.put("prompt", "a fox");
        v.put(option, switch (option) {
            case "steps", "seed", "width", "height", "count" -> Long.valueOf(value);
            case "cfg" -> Double.valueOf(value);
            default -> value;
        });
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(v));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void userTextIsEscapedInMessages() {
        String s = JobMessages.escape("**bold** @everyone <@123> `code`");
        assertFalse(s.contains("@everyone"), s);
        assertFalse(s.contains("**bold**"), s);
        assertTrue(s.contains("\\*\\*bold\\*\\*"), s);
    }
}
