package org.diffusionbot.bot.discord;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.ModelSpec;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.bot.service.ImagineOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ImagineOptionsTest {
    /** sd15 is not described by any heartbeat (SD 1.x, 512x512); sdxl-base is SDXL at 1024x1024. */
    static ModelSpec spec(String model) {
        return model.startsWith("sdxl") ? new ModelSpec(ModelFamily.SDXL, 1024, 1024) : ModelSpec.UNKNOWN;
    }

    static JobRequest parse(Map<String, Object> values) {
        return parse(values, ImagineOptions.Defaults.NONE);
    }

    static JobRequest parse(Map<String, Object> values, ImagineOptions.Defaults defaults) {
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
        return ImagineOptions.toRequest(o, defaults, "sd15", ImagineOptionsTest::spec, 5, () -> -1L, Instant.EPOCH);
    }

    @Test
    void anExplicitScheduleIsCheckedAgainstTheSampler() {
        JobRequest r = parse(Map.of("prompt", "a fox", "sampler", "euler", "schedule", "trailing"));
        assertEquals(Schedule.TRAILING, r.schedule());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> parse(Map.of("prompt", "a fox", "sampler", "euler_a", "schedule", "karras")));
        assertEquals("sampler euler_a cannot use schedule karras (it takes default, trailing)", e.getMessage());
        assertEquals("unknown schedule 'sgm'; choose one of default, karras, exponential, trailing",
                assertThrows(IllegalArgumentException.class,
                        () -> parse(Map.of("prompt", "a fox", "schedule", "sgm"))).getMessage());
        assertEquals("sampler lcm takes at most 50 steps, got 60", assertThrows(IllegalArgumentException.class,
                () -> parse(Map.of("prompt", "a fox", "sampler", "lcm", "steps", 60L))).getMessage());
    }

    @Test
    void aScheduleWithoutASamplerTurnsTheDefaultKarrasSamplerIntoItsPlainForm() {
        JobRequest r = parse(Map.of("prompt", "a fox", "schedule", "trailing"));
        assertEquals(Sampler.DPMPP_2M, r.sampler());
        assertEquals(Schedule.TRAILING, r.schedule());
        JobRequest k = parse(Map.of("prompt", "a fox", "schedule", "karras"));
        assertEquals(Sampler.DPMPP_2M_KARRAS, k.sampler());
    }

    @Test
    void aDefaultScheduleTheSamplerDoesNotTakeIsLeftOut() {
        ImagineOptions.Defaults karras = new ImagineOptions.Defaults(null, null, null, null, null, null, Schedule.KARRAS);
        assertEquals(Schedule.DEFAULT, parse(Map.of("prompt", "a fox", "sampler", "euler_a"), karras).schedule());
        assertEquals(Schedule.KARRAS, parse(Map.of("prompt", "a fox", "sampler", "euler"), karras).schedule());
        assertEquals(Schedule.EXPONENTIAL, parse(Map.of("prompt", "a fox", "sampler", "euler", "schedule",
                "exponential"), karras).schedule());
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
    void guidanceRescaleIsCheckedAndCarried() {
        assertEquals(0.7, parse(Map.of("prompt", "a fox", "guidance_rescale", 0.7)).guidanceRescale());
        assertEquals(null, parse(Map.of("prompt", "a fox")).guidanceRescale());
        assertEquals(0.0, parse(Map.of("prompt", "a fox", "guidance_rescale", 0.0)).guidanceRescaleOrZero());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> parse(Map.of("prompt", "a fox", "guidance_rescale", 1.5)));
        assertEquals("guidance rescale must be between 0 and 1, got 1.5", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> parse(Map.of("prompt", "a fox", "guidance_rescale", -0.1)));
        assertThrows(IllegalArgumentException.class,
                () -> parse(Map.of("prompt", "a fox", "guidance_rescale", Double.NaN)));
    }

    @Test
    void clipSkipIsOneNumberingForEveryFamilyAndTheFamilysDefaultIsRecordedAsNone() {
        Map<String, Object> xl = Map.of("prompt", "a fox", "model", "sdxl-base");
        assertEquals(0, parse(Map.of("prompt", "a fox")).clipSkip(), "none: the worker runs the family's default");
        assertEquals(0, parse(xl).clipSkip());
        assertEquals(0, parse(Map.of("prompt", "a fox", "clip_skip", 1L)).clipSkip(), "SD 1.x's 1 is its default");
        assertEquals(2, parse(Map.of("prompt", "a fox", "clip_skip", 2L)).clipSkip());
        assertEquals(12, parse(Map.of("prompt", "a fox", "clip_skip", 12L)).clipSkip(), "SD 1.x: all 12 layers");
        assertEquals(1, parse(with(xl, "clip_skip", 1L)).clipSkip(), "SDXL's 1 is its last layer, not its default");
        assertEquals(0, parse(with(xl, "clip_skip", 2L)).clipSkip(), "SDXL's 'clip skip 2' is its default");
        assertEquals(3, parse(with(xl, "clip_skip", 3L)).clipSkip());
        assertEquals(12, parse(with(xl, "clip_skip", 12L)).clipSkip(), "SDXL takes 1 to 12 as every family");
        for (Map<String, Object> o : List.of(Map.<String, Object>of("prompt", "a fox"), xl)) {
            assertEquals("clip skip must be between 1 and 12, got 13", assertThrows(IllegalArgumentException.class,
                    () -> parse(with(o, "clip_skip", 13L))).getMessage());
            assertEquals("clip skip must be between 1 and 12, got 0", assertThrows(IllegalArgumentException.class,
                    () -> parse(with(o, "clip_skip", 0L))).getMessage());
            assertEquals("clip skip is out of range: 4294967296", assertThrows(IllegalArgumentException.class,
                    () -> parse(with(o, "clip_skip", 1L << 32))).getMessage());
        }
    }

    private static Map<String, Object> with(Map<String, Object> o, String k, Object v) {
        Map<String, Object> m = new java.util.HashMap<>(o);
        m.put(k, v);
        return m;
    }

    @Test
    void theUsersDefaultClipSkipAppliesWhenImagineLeavesItOut() {
        ImagineOptions.Defaults d = new ImagineOptions.Defaults(null, null, null, null, null, null, null, null, 2);
        assertEquals(2, parse(Map.of("prompt", "a fox"), d).clipSkip());
        assertEquals(0, parse(Map.of("prompt", "a fox", "model", "sdxl-base"), d).clipSkip(),
                "a 2 saved for SD 1.5 anime models is SDXL's own default");
        assertEquals(3, parse(Map.of("prompt", "a fox", "clip_skip", 3L), d).clipSkip());
        assertEquals(0, parse(Map.of("prompt", "a fox", "clip_skip", 1L), d).clipSkip(),
                "an explicit 1 turns the default off");
        assertEquals(1, parse(Map.of("prompt", "a fox", "model", "sdxl-base", "clip_skip", 1L), d).clipSkip());
        assertEquals(2, d.recommendedBy(new org.diffusionbot.common.messages.WorkerHeartbeat.ModelDefaults("m",
                Sampler.EULER, null, 8, 2.0)).clipSkip(), "a model's recommendation keeps it");
        ImagineOptions.Defaults twelve = new ImagineOptions.Defaults(null, null, null, null, null, null, null, null, 12);
        assertEquals(12, parse(Map.of("prompt", "a fox"), twelve).clipSkip());
        assertEquals(12, parse(Map.of("prompt", "a fox", "model", "sdxl-base"), twelve).clipSkip());
        ImagineOptions.Defaults three = new ImagineOptions.Defaults(null, null, null, null, null, null, null, null, 3);
        assertEquals(3, parse(Map.of("prompt", "a fox", "model", "sdxl-base"), three).clipSkip());
    }

    @Test
    void theUsersDefaultGuidanceRescaleAppliesWhenImagineLeavesItOut() {
        ImagineOptions.Defaults d = new ImagineOptions.Defaults(null, null, null, null, null, null, null, 0.7);
        assertEquals(0.7, parse(Map.of("prompt", "a fox"), d).guidanceRescale());
        assertEquals(0.3, parse(Map.of("prompt", "a fox", "guidance_rescale", 0.3), d).guidanceRescale());
        assertEquals(null, parse(Map.of("prompt", "a fox", "guidance_rescale", 0.0), d).guidanceRescale(),
                "an explicit 0 turns the default off");
        assertEquals(0.7, d.recommendedBy(new org.diffusionbot.common.messages.WorkerHeartbeat.ModelDefaults("m",
                Sampler.EULER, null, 8, 2.0)).guidanceRescale(), "a model's recommendation keeps it");
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

    @Test
    void theSizeDefaultsToTheModelsNativeSize() {
        JobRequest r = parse(Map.of("prompt", "a fox", "model", "sdxl-base"));
        assertEquals(List.of(1024, 1024), List.of(r.width(), r.height()));
        JobRequest saved = parse(Map.of("prompt", "a fox", "model", "sdxl-base"),
                new ImagineOptions.Defaults(null, null, null, 832, 1216, null));
        assertEquals(List.of(832, 1216), List.of(saved.width(), saved.height()), "the user's /settings size wins");
    }

    @ParameterizedTest
    @CsvSource({"sdxl-base,16:9,1344,768", "sdxl-base,21:9,1536,640", "sdxl-base,2:3,832,1216", "sd15,16:9,576,320",
        "sd15,1:1,512,512"})
    void arPicksTheModelsBucket(String model, String ar, int w, int h) {
        JobRequest r = parse(Map.of("prompt", "a fox", "model", model, "ar", ar),
                new ImagineOptions.Defaults(null, null, null, 640, 640, null));
        assertEquals(List.of(w, h), List.of(r.width(), r.height()), "ar wins over the saved size");
    }

    @Test
    void widthAndHeightOverrideTheirSideOfTheBucket() {
        JobRequest r = parse(Map.of("prompt", "a fox", "model", "sdxl-base", "ar", "16:9", "height", 704L));
        assertEquals(List.of(1344, 704), List.of(r.width(), r.height()));
    }

    @Test
    void sizeAndArTogetherAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> parse(Map.of("prompt", "a fox", "size", "512x512", "ar", "1:1")));
        assertTrue(e.getMessage().startsWith("give either size or ar, not both"), e.getMessage());
    }

    @Test
    void eachFamilyHasItsOwnPixelLimitNamedInTheRefusal() {
        JobRequest big = parse(Map.of("prompt", "a fox", "model", "sdxl-base", "size", "1536x1536"));
        assertEquals(1536, big.width());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> parse(Map.of("prompt", "a fox", "size", "1536x1536")));
        assertEquals("image of 1536x1536 is too large for SD 1.x models: at most 1048576 pixels (e.g. 1024x1024)",
                e.getMessage());
        JobRequest largest = parse(Map.of("prompt", "a fox", "model", "sdxl-base", "width", 2048L, "height", 2048L));
        assertEquals(2048, largest.height(), "SDXL: up to 2048x2048 (an upscaled 1024x1024)");
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
        "size|2048x2048|is too large for SD 1.x models",
        "ar|5:4|ar must be one of 1:1, 3:2, 2:3, 4:3, 3:4, 16:9, 9:16, 21:9, got 5:4",
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

    static final org.diffusionbot.common.messages.WorkerHeartbeat.ModelDefaults LIGHTNING =
            new org.diffusionbot.common.messages.WorkerHeartbeat.ModelDefaults("lightning", Sampler.EULER,
                    Schedule.TRAILING, 4, 1.0);

    static JobRequest parseFor(Map<String, Object> values, ImagineOptions.Defaults user) {
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
        return ImagineOptions.toRequest(o, user, m -> m.equals("lightning") ? LIGHTNING : null, "sd15",
                ImagineOptionsTest::spec, 5, () -> 1L, Instant.EPOCH);
    }

    /** /imagine on a model with a sidecar file needs no options: its recommendation fills them. */
    @Test
    void aModelsRecommendationFillsWhatTheUserLeftOut() {
        JobRequest r = parseFor(Map.of("prompt", "a fox", "model", "lightning"), ImagineOptions.Defaults.NONE);
        assertEquals(Sampler.EULER, r.sampler());
        assertEquals(Schedule.TRAILING, r.schedule());
        assertEquals(4, r.steps());
        assertEquals(1.0, r.cfg());
        JobRequest plain = parseFor(Map.of("prompt", "a fox"), ImagineOptions.Defaults.NONE);
        assertEquals(Sampler.DPMPP_2M_KARRAS, plain.sampler(), "another model: the bot's defaults");
        assertEquals(30, plain.steps());
    }

    @Test
    void theModelsRecommendationBeatsTheUsersSettingsAndLosesToTypedOptions() {
        ImagineOptions.Defaults user = new ImagineOptions.Defaults(Sampler.DPMPP_2M_SDE_KARRAS, 30, 6.0, 640, 640,
                "blurry", Schedule.KARRAS);
        JobRequest r = parseFor(Map.of("prompt", "a fox", "model", "lightning"), user);
        assertEquals(Sampler.EULER, r.sampler());
        assertEquals(Schedule.TRAILING, r.schedule());
        assertEquals(4, r.steps());
        assertEquals(1.0, r.cfg());
        assertEquals(640, r.width(), "what the model does not recommend comes from the user's settings");
        assertEquals("blurry", r.negativePrompt());
        JobRequest typed = parseFor(Map.of("prompt", "a fox", "model", "lightning", "steps", 8L, "cfg", 2.0,
                "sampler", "euler_a"), user);
        assertEquals(Sampler.EULER_A, typed.sampler());
        assertEquals(Schedule.TRAILING, typed.schedule(), "euler_a takes the model's trailing schedule");
        assertEquals(8, typed.steps());
        assertEquals(2.0, typed.cfg());
        JobRequest karras = parseFor(Map.of("prompt", "a fox", "model", "lightning", "sampler", "dpmpp_2m_karras"), user);
        assertEquals(Schedule.DEFAULT, karras.schedule(), "a recommended schedule the sampler does not take is left out");
        assertEquals(Schedule.KARRAS, karras.sampler().scheduleWith(karras.schedule()), "which runs its own Karras");
    }
}
