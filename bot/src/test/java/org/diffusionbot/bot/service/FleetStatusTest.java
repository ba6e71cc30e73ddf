package org.diffusionbot.bot.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.diffusionbot.bot.discord.JobMessages;
import org.diffusionbot.bot.jobs.FleetGauges;
import org.diffusionbot.bot.jobs.RunHistory;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.testing.SettableClock;
import org.junit.jupiter.api.Test;

/** The ETA of /models and /admin workers: median run × (⌈ahead / workers⌉ + 1), plus a load where none has it. */
class FleetStatusTest {
    private final SettableClock clock = new SettableClock(Instant.parse("2026-11-30T12:00:00Z"));
    private final WorkerRegistry registry = new WorkerRegistry(clock, 5);
    private final RunHistory history = new RunHistory();
    private final AtomicReference<Map<String, FleetGauges.ModelLoad>> loads = new AtomicReference<>(Map.of());
    private final FleetStatus fleet = new FleetStatus(registry, loads::get, history);

    private void worker(String id, List<String> models, List<String> resident) {
        registry.record(new WorkerHeartbeat(id, "host", "cuda:0", models, WorkerHeartbeat.State.BUSY, 1, 0, 0,
                clock.instant(), List.of(), List.of(), false, List.of(), resident));
    }

    private FleetStatus.ModelStatus model(String name) {
        return fleet.models().stream().filter(m -> m.name().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void theEtaIsTheMedianRunTimesTheRoundsAheadPlusItsOwn() {
        worker("w1", List.of("sd15"), null);
        worker("w2", List.of("sd15"), null);
        assertNull(model("sd15").eta(), "no run time yet");
        for (long s : new long[] {4, 5, 30, 6, 5}) {
            history.ran("sd15", Duration.ofSeconds(s));
        }
        assertEquals(Duration.ofSeconds(5), model("sd15").typicalRun(), "the median: one slow job does not count");
        assertEquals(Duration.ofSeconds(5), model("sd15").eta(), "nothing ahead: its own run");
        loads.set(Map.of("sd15", new FleetGauges.ModelLoad(4, 1, 3L, 2L)));
        FleetStatus.ModelStatus m = model("sd15");
        assertEquals(Duration.ofSeconds(5 * (3 + 1)), m.eta(), "5 ahead on 2 workers: 3 rounds, then its own");
        assertEquals(List.of(4, 1, 3L), List.of(m.queued(), m.running(), m.ready()));
        String admin = JobMessages.workers(registry.workers(), fleet.models(), false);
        assertTrue(admin.contains("• `sd15` family not announced yet (taken as SD 1.x, 512x512) · queue: 4 waiting, 1"
                + " running (3 ready in RabbitMQ) · loaded on 2 of 2 workers · a job runs about 5 s · a new job: about"
                + " 20 s"), admin);
        assertTrue(JobMessages.models(fleet.models(), "sd15", false)
                .endsWith("· queue: 4 waiting, 1 running · a new job: about 20 s"));
    }

    @Test
    void aModelNoWorkerHasLoadedAddsItsLastLoad() {
        worker("w1", List.of("sd15", "xl"), List.of("sd15"));
        history.ran("xl", Duration.ofSeconds(10));
        assertEquals(Duration.ofSeconds(10), model("xl").eta(), "no load time known");
        history.loaded("xl", Duration.ofSeconds(40));
        assertEquals(Duration.ofSeconds(50), model("xl").eta());
        history.ran("sd15", Duration.ofSeconds(10));
        assertEquals(Duration.ofSeconds(10), model("sd15").eta(), "loaded: no load");
    }
}
