package org.diffusionbot.common.messages;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.diffusionbot.common.Sampler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MessageCodecTest {
    static final Instant T = Instant.parse("2026-11-22T05:00:00Z");

    static JobRequest job() {
        return new JobRequest(UUID.randomUUID(), "tiny-sd15", "a cat", "", 512, 512, 30, 7.5,
                Sampler.DPMPP_2M_KARRAS, 42, 2, 1, null, null, 5, T);
    }

    @Test
    void everyMessageTypeRoundTrips() throws Exception {
        UUID id = UUID.randomUUID();
        List<Message> all = List.of(
                job(),
                new JobRequest(id, "m", "p", "n", 64, 128, 1, 0, Sampler.EULER_A, 0xFFFF_FFFFL, 1, 2,
                        new byte[] {1, 2, 3}, 0.5, 0, T),
                new JobProgress(id, "w1", 3, 30, 1200, new byte[] {9, 8}, T),
                new JobResult(id, "w1", List.of(new JobResult.Image(0, 42, 64, 64, new byte[] {1})),
                        new JobResult.Timings(5, 10, 15), List.of("prompt cut"), T),
                new JobFailure(id, "w1", JobFailure.Code.NUMERICAL_ERROR, "NaN in the VAE output", T),
                new WorkerHeartbeat("w1", "gpu-host", "cuda:0", List.of("sd15"), WorkerHeartbeat.State.IDLE, 0, 12,
                        3.5, T),
                new CancelJob(id, "user:1", T));
        for (Message m : all) {
            byte[] wire = MessageCodec.encode(m);
            Message back = MessageCodec.decode(wire);
            assertEquals(m.getClass(), back.getClass());
            // byte[] components compare by identity in records: compare the re-encoded form instead
            assertArrayEquals(wire, MessageCodec.encode(back), m.getClass().getSimpleName());
        }
    }

    @Test
    void optionalFieldsMayBeAbsentAndRoundTrip() throws Exception {
        WorkerHeartbeat hb = new WorkerHeartbeat("w1", "h", "cpu", List.of("sd15"), WorkerHeartbeat.State.IDLE, 0, 0, 0, T,
                List.of(new WorkerHeartbeat.Addon("watercolor", "sd1")), List.of(new WorkerHeartbeat.Addon("easyneg", "sd1")));
        assertEquals(hb, MessageCodec.decode(MessageCodec.encode(hb)));
        ObjectNode old = (ObjectNode) new ObjectMapper().readTree(MessageCodec.encode(hb));
        old.remove("loras");
        old.remove("embeddings");
        old.remove("model_info");
        WorkerHeartbeat back = MessageCodec.decode(new ObjectMapper().writeValueAsBytes(old), WorkerHeartbeat.class);
        assertEquals(List.of(), back.loras());
        assertEquals(List.of(), back.embeddings());
        assertEquals(List.of("sd15"), back.residentModels(), "an older worker's one model is loaded");
        assertEquals(List.of(), back.loadableModels());
        assertEquals(List.of(), back.modelInfo());
        assertTrue(back.infoFor("sd15").isEmpty());
        old.remove("device"); // required fields stay required
        assertThrows(InvalidMessageException.class,
                () -> MessageCodec.decode(new ObjectMapper().writeValueAsBytes(old), WorkerHeartbeat.class));
    }

    @Test
    void residentModelsAndTheModelBeingLoaded() throws Exception {
        WorkerHeartbeat hb = new WorkerHeartbeat("w1", "h", "cuda:0", List.of("sd15", "dream", "anime"),
                WorkerHeartbeat.State.IDLE, 0, 0, 0, T, List.of(), List.of(), false, List.of(), List.of("dream"));
        assertEquals(hb, MessageCodec.decode(MessageCodec.encode(hb)));
        assertEquals(List.of("sd15", "anime"), hb.loadableModels());
        assertTrue(new String(MessageCodec.encode(hb), StandardCharsets.UTF_8).contains("\"resident_models\":[\"dream\"]"));
        assertThrows(IllegalArgumentException.class, () -> new WorkerHeartbeat("w1", "h", "cpu", List.of("sd15"),
                WorkerHeartbeat.State.IDLE, 0, 0, 0, T, List.of(), List.of(), false, List.of(), List.of("other")));

        UUID id = UUID.randomUUID();
        JobProgress loading = new JobProgress(id, "w1", 0, 30, 20_000, null, T, "dream");
        assertEquals("dream", MessageCodec.decode(MessageCodec.encode(loading), JobProgress.class).loadingModel());
        ObjectNode old = (ObjectNode) new ObjectMapper().readTree(MessageCodec.encode(loading));
        old.remove("loading_model");
        assertEquals(null, MessageCodec.decode(new ObjectMapper().writeValueAsBytes(old), JobProgress.class).loadingModel());
    }

    @Test
    void heartbeatsCarryEachModelsFamilyAndNativeSize() throws Exception {
        WorkerHeartbeat hb = new WorkerHeartbeat("w1", "h", "cuda:0", List.of("ponyxl"), WorkerHeartbeat.State.IDLE, 0, 0,
                0, T, List.of(), List.of(), false, List.of(new WorkerHeartbeat.ModelInfo("ponyxl", "sdxl", 1024, 1024)));
        String json = new String(MessageCodec.encode(hb), StandardCharsets.UTF_8);
        assertTrue(json.contains("\"model_info\":[{\"model\":\"ponyxl\",\"family\":\"sdxl\",\"native_width\":1024,"
                + "\"native_height\":1024}]"), json);
        WorkerHeartbeat back = MessageCodec.decode(MessageCodec.encode(hb), WorkerHeartbeat.class);
        assertEquals(1024, back.infoFor("ponyxl").orElseThrow().nativeWidth());
        assertThrows(IllegalArgumentException.class, () -> new WorkerHeartbeat.ModelInfo("x", "sdxl", 0, 1024));
    }

    @Test
    void moderationFieldsAreOptionalAndRoundTrip() throws Exception {
        ObjectMapper om = new ObjectMapper();
        JobRequest restricted = job().withAgeRestricted(true);
        assertEquals(true, MessageCodec.decode(MessageCodec.encode(restricted), JobRequest.class).ageRestricted());
        ObjectNode oldJob = (ObjectNode) om.readTree(MessageCodec.encode(restricted));
        oldJob.remove("age_restricted");
        assertEquals(false, MessageCodec.decode(om.writeValueAsBytes(oldJob), JobRequest.class).ageRestricted(),
                "a bot that does not send the flag: the channel is taken as not age-restricted, so images are checked");
        assertEquals(false, job().ageRestricted());

        UUID id = UUID.randomUUID();
        List<JobResult.Image> images = List.of(new JobResult.Image(0, 1, 64, 64, new byte[] {1}),
                new JobResult.Image(1, 2, 64, 64, new byte[] {2}));
        JobResult checked = new JobResult(id, "w1", images, new JobResult.Timings(1, 2, 3), List.of(), T,
                List.of(new JobResult.Safety(1, true, 0.021)));
        JobResult back = MessageCodec.decode(MessageCodec.encode(checked), JobResult.class);
        assertEquals(checked.safety(), back.safety());
        assertEquals(null, back.safetyOf(0));
        assertEquals(0.021, back.safetyOf(1).score());
        ObjectNode oldResult = (ObjectNode) om.readTree(MessageCodec.encode(checked));
        oldResult.remove("safety");
        assertEquals(List.of(), MessageCodec.decode(om.writeValueAsBytes(oldResult), JobResult.class).safety());
        assertThrows(IllegalArgumentException.class, () -> new JobResult(id, "w1", images, new JobResult.Timings(1, 2, 3),
                List.of(), T, List.of(new JobResult.Safety(2, false, -0.1))), "a verdict on an image the result lacks");
        assertThrows(IllegalArgumentException.class, () -> new JobResult.Safety(0, false, Double.NaN));

        WorkerHeartbeat hb = new WorkerHeartbeat("w1", "h", "cpu", List.of("sd15"), WorkerHeartbeat.State.IDLE, 0, 0, 0, T,
                List.of(), List.of(), true, List.of());
        assertEquals(hb, MessageCodec.decode(MessageCodec.encode(hb)));
        ObjectNode oldHb = (ObjectNode) om.readTree(MessageCodec.encode(hb));
        oldHb.remove("safety_checker");
        assertEquals(false, MessageCodec.decode(om.writeValueAsBytes(oldHb), WorkerHeartbeat.class).safetyChecker());
    }

    @Test
    void wireFormatCarriesTypeSchemaAndSnakeCaseFields() throws Exception {
        String json = new String(MessageCodec.encode(job()), StandardCharsets.UTF_8);
        assertTrue(json.startsWith("{\"type\":\"job_request\",\"schema\":1,"), json);
        assertTrue(json.contains("\"job_id\":"), json);
        assertTrue(json.contains("\"sampler\":\"dpmpp_2m_karras\""), json);
        assertTrue(json.contains("\"created_at\":\"2026-11-22T05:00:00Z\""), json);
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "", "not json", "[1,2]", "{}", "{\"type\":\"job_request\"}",
        "{\"type\":\"job_request\",\"schema\":2}",
        "{\"type\":\"job_request\",\"schema\":\"1\"}",
        "{\"type\":\"launch_missiles\",\"schema\":1}",
    })
    void malformedMessagesAreRejectedWithAReason(String body) {
        InvalidMessageException e = assertThrows(InvalidMessageException.class,
                () -> MessageCodec.decode(body.getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage() != null && !e.getMessage().isBlank() && !e.getMessage().contains("\n"));
    }

    @Test
    void outOfRangeAndMissingFieldsAreNamed() throws Exception {
        ObjectMapper om = new ObjectMapper();
        ObjectNode n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("steps", 151);
        assertReason(om, n, "steps must be between 1 and 150");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.remove("seed");
        assertReason(om, n, "seed");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("width", "wide");
        assertReason(om, n, "width");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("sampler", "warp_drive");
        assertReason(om, n, "sampler");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("model", "../../etc/passwd");
        assertReason(om, n, "model name");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("prompt", "bell\u0007");
        assertReason(om, n, "control character");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("prompt", "half a pair \uD800 of surrogates");
        assertReason(om, n, "broken UTF-16 surrogate");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("strength", 0.5);
        assertReason(om, n, "init_image and strength");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("schedule", "sgm");
        assertReason(om, n, "schedule");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("sampler", "euler_a");
        n.put("schedule", "karras");
        assertReason(om, n, "sampler euler_a cannot use schedule karras");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("sampler", "lcm");
        n.put("steps", 60);
        assertReason(om, n, "sampler lcm takes at most 50 steps, got 60");
        n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("clip_skip", 13);
        assertReason(om, n, "clip skip must be between 1 and 12, got 13");
        n.put("clip_skip", -1);
        assertReason(om, n, "clip skip must be between 1 and 12, got -1");
    }

    /** {@code clip_skip} 0: none chosen, the worker runs the model family's default (1, SDXL 2). */
    @Test
    void clipSkipZeroIsTheFamilysDefault() throws Exception {
        ObjectMapper om = new ObjectMapper();
        ObjectNode n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("clip_skip", 0);
        JobRequest r = (JobRequest) assertDoesNotThrowDecode(om.writeValueAsBytes(n));
        assertEquals(0, r.clipSkip());
        assertEquals(0, r.derive(UUID.randomUUID(), 512, 512, 1, 1, null, null, 0, T).clipSkip(), "derived jobs keep it");
    }

    /** {@code model_defaults} (the models' sidecar files) round-trip and may be absent (older workers). */
    @Test
    void modelDefaultsRoundTripAndMayBeAbsent() throws Exception {
        WorkerHeartbeat.ModelDefaults d = new WorkerHeartbeat.ModelDefaults("lightning", Sampler.EULER,
                org.diffusionbot.common.Schedule.TRAILING, 4, 1.0);
        WorkerHeartbeat hb = new WorkerHeartbeat("w1", "h", "cpu", List.of("lightning", "sd15"),
                WorkerHeartbeat.State.IDLE, 0, 0, 0, T, List.of(), List.of(), false, List.of(), null, List.of(d));
        WorkerHeartbeat back = MessageCodec.decode(MessageCodec.encode(hb), WorkerHeartbeat.class);
        assertEquals(hb, back);
        assertEquals(java.util.Optional.of(d), back.defaultsFor("lightning"));
        ObjectNode n = (ObjectNode) new ObjectMapper().readTree(MessageCodec.encode(hb));
        assertEquals("trailing", n.get("model_defaults").get(0).get("schedule").asText());
        n.remove("model_defaults");
        assertEquals(List.of(), MessageCodec.decode(new ObjectMapper().writeValueAsBytes(n), WorkerHeartbeat.class)
                .modelDefaults());
        assertThrows(IllegalArgumentException.class, () -> new WorkerHeartbeat.ModelDefaults("m", Sampler.LCM, null,
                60, null));
    }

    /** {@code schedule} is optional: absent (an older bot) means the sampler's default. */
    @Test
    void theScheduleRoundTripsAndMayBeAbsent() throws Exception {
        JobRequest j = job().withSchedule(org.diffusionbot.common.Schedule.KARRAS);
        JobRequest back = MessageCodec.decode(MessageCodec.encode(j), JobRequest.class);
        assertEquals(org.diffusionbot.common.Schedule.KARRAS, back.schedule());
        ObjectNode n = (ObjectNode) new ObjectMapper().readTree(MessageCodec.encode(j));
        assertEquals("karras", n.get("schedule").asText());
        n.remove("schedule");
        JobRequest old = MessageCodec.decode(new ObjectMapper().writeValueAsBytes(n), JobRequest.class);
        assertEquals(null, old.schedule());
        assertEquals(org.diffusionbot.common.Schedule.DEFAULT, old.scheduleOrDefault());
    }

    @Test
    void hugeBodiesAreRefusedBeforeParsing() {
        byte[] huge = new byte[MessageCodec.MAX_BODY_BYTES + 1];
        InvalidMessageException e = assertThrows(InvalidMessageException.class, () -> MessageCodec.decode(huge));
        assertTrue(e.getMessage().contains("larger than the limit"));
    }

    @Test
    void decodingAsTheWrongTypeIsRefused() {
        byte[] wire = MessageCodec.encode(new CancelJob(UUID.randomUUID(), "u", T));
        InvalidMessageException e = assertThrows(InvalidMessageException.class,
                () -> MessageCodec.decode(wire, JobRequest.class));
        assertTrue(e.getMessage().contains("cancel_job"));
        assertInstanceOf(CancelJob.class, assertDoesNotThrowDecode(wire));
    }

    @Test
    void unknownExtraFieldsAreIgnoredForForwardCompatibility() throws Exception {
        ObjectMapper om = new ObjectMapper();
        ObjectNode n = (ObjectNode) om.readTree(MessageCodec.encode(job()));
        n.put("added_in_a_later_minor_version", true);
        assertInstanceOf(JobRequest.class, MessageCodec.decode(om.writeValueAsBytes(n)));
    }

    @Test
    void seedsOfABatchAreConsecutiveAndWrap() {
        JobRequest j = new JobRequest(UUID.randomUUID(), "m", "p", "", 64, 64, 1, 1, Sampler.DDIM, 0xFFFF_FFFFL, 2, 1,
                null, null, 0, T);
        assertEquals(0xFFFF_FFFFL, j.seedOf(0));
        assertEquals(0L, j.seedOf(1));
    }

    private static Message assertDoesNotThrowDecode(byte[] wire) {
        try {
            return MessageCodec.decode(wire);
        } catch (InvalidMessageException e) {
            throw new AssertionError(e);
        }
    }

    private static void assertReason(ObjectMapper om, ObjectNode n, String expected) throws Exception {
        byte[] body = om.writeValueAsBytes(n);
        InvalidMessageException e = assertThrows(InvalidMessageException.class, () -> MessageCodec.decode(body));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().startsWith("job_request: "), e.getMessage());
    }
}
