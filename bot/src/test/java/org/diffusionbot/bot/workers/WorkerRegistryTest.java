package org.diffusionbot.bot.workers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.List;
import org.diffusionbot.bot.discord.JobMessages;
import org.diffusionbot.bot.jobs.RunHistory;
import org.diffusionbot.bot.service.FleetStatus;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.ModelSpec;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.testing.SettableClock;
import org.junit.jupiter.api.Test;

/** Workers with several models: which are loaded, in /models and /admin workers. */
class WorkerRegistryTest {
    private final SettableClock clock = new SettableClock(Instant.parse("2026-11-30T12:00:00Z"));

    private static WorkerHeartbeat hb(String id, List<String> models, List<String> resident) {
        return hb(id, models, resident, List.of(), "2026-11-30T12:00:00Z");
    }

    private static WorkerHeartbeat hb(String id, List<String> models, List<String> resident,
            List<WorkerHeartbeat.ModelInfo> info, String sentAt) {
        return new WorkerHeartbeat(id, "host", "cuda:0", models, WorkerHeartbeat.State.IDLE, 0, 0, 0,
                Instant.parse(sentAt), List.of(), List.of(), false, info, resident);
    }

    /** What /models shows of the registry's models with no queue and no run history. */
    static List<FleetStatus.ModelStatus> status(WorkerRegistry r) {
        return new FleetStatus(r, java.util.Map::of, new RunHistory()).models();
    }

    @Test
    void aModelsFamilyAndNativeSizeComeFromTheHeartbeatsAndOutliveItsUnload() {
        WorkerRegistry r = new WorkerRegistry(clock, 5);
        assertEquals(ModelSpec.UNKNOWN, r.spec("xl"));
        r.record(hb("w1", List.of("sd15", "xl"), List.of("xl"),
                List.of(new WorkerHeartbeat.ModelInfo("xl", "sdxl", 1024, 1024)), "2026-11-30T12:00:00Z"));
        assertEquals(new ModelSpec(ModelFamily.SDXL, 1024, 1024), r.spec("xl"));
        r.record(hb("w1", List.of("sd15", "xl"), List.of("sd15"),
                List.of(new WorkerHeartbeat.ModelInfo("sd15", "sd1", 512, 512)), "2026-11-30T12:00:05Z"));
        assertEquals(new ModelSpec(ModelFamily.SDXL, 1024, 1024), r.spec("xl"), "xl was unloaded: still SDXL");
        assertEquals(new ModelSpec(ModelFamily.SD1, 512, 512), r.spec("sd15"));
        r.record(hb("w1", List.of("sd15", "xl"), List.of("xl"),
                List.of(new WorkerHeartbeat.ModelInfo("xl", "sd1", 512, 512)), "2026-11-30T12:00:01Z"));
        assertEquals(ModelFamily.SDXL, r.spec("xl").family(), "an older heartbeat changes nothing");
        String models = JobMessages.models(status(r), "sd15", false);
        assertTrue(models.contains("`xl` — SDXL, 1024x1024 · 1 worker, loaded on 0"), models);
        assertTrue(models.contains("`sd15` (default) — SD 1.x, 512x512 · 1 worker"), models);
        r.record(hb("w2", List.of("new"), null));
        assertTrue(JobMessages.models(status(r), "sd15", false)
                .contains("`new` — family not announced yet (taken as SD 1.x, 512x512) · 1 worker"));
    }

    @Test
    void modelsCountTheWorkersThatHaveThemLoaded() {
        WorkerRegistry r = new WorkerRegistry(clock, 5);
        r.record(hb("w1", List.of("sd15", "dream"), List.of("sd15")));
        r.record(hb("w2", List.of("sd15", "dream"), List.of("dream", "sd15")));
        r.record(hb("old", List.of("sd15"), null)); // an older worker: its one model is loaded
        assertEquals(List.of(new WorkerRegistry.ModelInfo("dream", null, 2, 0, 1),
                new WorkerRegistry.ModelInfo("sd15", null, 3, 0, 3)), r.models());
        String models = JobMessages.models(status(r), "sd15", false);
        assertTrue(models.contains("`dream` — family not announced yet (taken as SD 1.x, 512x512) · 2 workers, loaded on 1"
                + " (the others load it when a job needs it)"), models);
        assertTrue(models.endsWith("`sd15` (default) — family not announced yet (taken as SD 1.x, 512x512) · 3 workers"
                + " · queue empty · no ETA yet (no job of it finished lately)"),
                models);
        String admin = JobMessages.workers(r.workers(), status(r), false);
        assertTrue(admin.contains("`w1` on host · cuda:0 · sd15 (can load dream) · **idle**"), admin);
        assertTrue(admin.contains("`w2` on host · cuda:0 · dream, sd15 · **idle**"), admin);
    }

    @Test
    void imagesAreCheckedOnlyWhenEveryLiveWorkerOfTheModelRunsTheChecker() {
        WorkerRegistry r = new WorkerRegistry(clock, 5);
        assertFalse(r.checksImages("sd15"), "no worker serves it: a job would wait for any worker");
        r.record(checker("w1", List.of("sd15", "dream"), true));
        assertTrue(r.checksImages("sd15"));
        assertFalse(r.checksImages("other"));
        r.record(checker("w2", List.of("dream"), false));
        assertTrue(r.checksImages("sd15"), "w2 does not serve sd15");
        assertFalse(r.checksImages("dream"), "a job for dream may go to w2, which does not check");
        clock.advance(java.time.Duration.ofSeconds(16)); // past 3 heartbeats of 5 s: both lost
        r.record(checker("w1", List.of("sd15", "dream"), true));
        assertTrue(r.checksImages("dream"), "the lost w2 takes no jobs");
    }

    private static WorkerHeartbeat checker(String id, List<String> models, boolean checks) {
        return new WorkerHeartbeat(id, "host", "cuda:0", models, WorkerHeartbeat.State.IDLE, 0, 0, 0,
                Instant.parse("2026-11-30T12:00:00Z"), List.of(), List.of(), checks);
    }

    /** A model's recommended settings come from the newest heartbeat of a live worker that announces them. */
    @Test
    void modelDefaultsComeFromLiveWorkers() {
        WorkerRegistry r = new WorkerRegistry(clock, 5);
        WorkerHeartbeat.ModelDefaults lightning = new WorkerHeartbeat.ModelDefaults("lightning",
                org.diffusionbot.common.Sampler.EULER, org.diffusionbot.common.Schedule.TRAILING, 4, 1.0);
        r.record(new WorkerHeartbeat("w1", "host", "cuda:0", List.of("lightning", "sd15"), WorkerHeartbeat.State.IDLE,
                0, 0, 0, clock.instant(), List.of(), List.of(), false, List.of(), null, List.of(lightning)));
        assertEquals(lightning, r.defaultsFor("lightning"));
        assertEquals(null, r.defaultsFor("sd15"));
        clock.advance(java.time.Duration.ofSeconds(16)); // 3 heartbeats missed: lost
        assertEquals(null, r.defaultsFor("lightning"));
    }
}
