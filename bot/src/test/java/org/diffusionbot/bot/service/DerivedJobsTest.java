package org.diffusionbot.bot.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.RecordComponent;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.ModelSpec;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.db.StoredImage;
import org.junit.jupiter.api.Test;

/** Every setting of the pressed job's request survives into the reroll, variation and upscale it asks for. */
class DerivedJobsTest {
    /** What a derived job sets anew (ageRestricted: from the press's own channel, SubmitService.newJob). */
    private static final Set<String> SET_ANEW = Set.of("jobId", "width", "height", "seed", "count", "initImage",
            "strength", "previewEvery", "createdAt", "ageRestricted");

    private final DerivedJobs derived = new DerivedJobs(null, null, m -> new ModelSpec(ModelFamily.SDXL, 1024, 1024),
            4, Clock.fixed(Instant.parse("2026-11-30T15:00:00Z"), ZoneOffset.UTC), () -> 99L);

    /** A request with a value other than the default in every field (an img2img job, so that init image is set). */
    private static JobRequest parent() {
        return new JobRequest(UUID.randomUUID(), "pony", "a castle", "blurry", 832, 1216, 33, 5.5, Sampler.EULER_A,
                1234, 3, 2, new byte[] {1, 2, 3}, 0.5, 2, Instant.parse("2026-11-30T14:00:00Z"), true, 0.7, Schedule.TRAILING);
    }

    @Test
    void theParentSetsEveryFieldToANonDefaultValue() {
        // a field added to JobRequest must get a non-default value here, or the carry checks below prove nothing
        JobRequest p = parent();
        for (RecordComponent c : JobRequest.class.getRecordComponents()) {
            Object v = value(c, p);
            assertNotNull(v, c.getName());
            assertFalse(v.equals(0) || v.equals(0L) || v.equals(0.0) || v.equals(false) || v.equals(""),
                    c.getName() + " has its default value in the test's parent request");
        }
    }

    @Test
    void everySettingSurvivesRerollVariationAndUpscale() {
        JobRequest p = parent();
        StoredImage image = new StoredImage(1, 1235, 512, 768, new byte[] {9, 9}, new byte[0], "");
        for (DerivedJobs.Kind kind : DerivedJobs.Kind.values()) {
            JobRequest d = derived.request(kind, p, image);
            for (RecordComponent c : JobRequest.class.getRecordComponents()) {
                if (!SET_ANEW.contains(c.getName())) {
                    assertTrue(Objects.deepEquals(value(c, p), value(c, d)),
                            kind.id + " lost " + c.getName() + ": " + value(c, p) + " became " + value(c, d));
                }
            }
            assertNotEquals(p.jobId(), d.jobId());
            assertEquals(4, d.previewEvery());
            assertEquals(Instant.parse("2026-11-30T15:00:00Z"), d.createdAt());
        }
        JobRequest reroll = derived.request(DerivedJobs.Kind.REROLL, p, null);
        assertEquals(99L, reroll.seed());
        assertEquals(3, reroll.count());
        assertTrue(Arrays.equals(p.initImage(), reroll.initImage()));
        JobRequest up = derived.request(DerivedJobs.Kind.UPSCALE, p, new StoredImage(0, 1235, 512, 512,
                new byte[] {9}, new byte[0], ""));
        assertEquals(1024, up.width());
        assertEquals(1235, up.seed());
        assertEquals(DerivedJobs.UPSCALE_STRENGTH, up.strength());
        assertEquals(0.7, up.guidanceRescale());
    }

    private static Object value(RecordComponent c, JobRequest r) {
        try {
            return c.getAccessor().invoke(r);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }
}
