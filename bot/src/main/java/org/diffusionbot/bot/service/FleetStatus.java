package org.diffusionbot.bot.service;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.diffusionbot.bot.jobs.FleetGauges;
import org.diffusionbot.bot.jobs.RunHistory;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.ModelSpec;

/**
 * What {@code /models} and {@code /admin workers} say of each served model: its family, the workers that serve it
 * and have it loaded (heartbeats), its queue (RabbitMQ and PostgreSQL, as {@link FleetGauges} last saw them, at
 * most a few seconds old) and an ETA for a job sent now.
 *
 * <p>The ETA (docs/OPERATIONS.md, "What to watch"): with {@code run} the median run time of the model's last
 * {@link RunHistory#KEPT} jobs, {@code ahead} its jobs queued or running and {@code workers} the live workers that
 * serve it, a job sent now is done after about {@code run × (⌈ahead / workers⌉ + 1)}, plus the model's last load time
 * when no worker has it loaded. It assumes each worker runs one job at a time, so batching (several jobs in one
 * UNet batch) makes real waits shorter: an upper estimate. No ETA without a worker or without a recent run.
 */
public final class FleetStatus {
    private final WorkerRegistry workers;
    private final Supplier<Map<String, FleetGauges.ModelLoad>> loads;
    private final RunHistory history;

    /** @param loads the last figures per model ({@link FleetGauges#latest}) */
    public FleetStatus(WorkerRegistry workers, Supplier<Map<String, FleetGauges.ModelLoad>> loads, RunHistory history) {
        this.workers = workers;
        this.loads = loads;
        this.history = history;
    }

    /**
     * One served model.
     *
     * @param spec     family and native size from the heartbeats; null while none described the model
     * @param workers  live workers serving it; {@code busy} of them busy, {@code loaded} with it loaded
     * @param queued   its jobs waiting for a worker; {@code running} its jobs running (PostgreSQL)
     * @param ready    jobs ready in its RabbitMQ queue (not yet delivered to a worker); null when unknown
     * @param typicalRun the median run time of its recent jobs; null when none finished lately
     * @param eta      when a job sent now would be done (see the class comment); null when it cannot be estimated
     */
    public record ModelStatus(String name, ModelSpec spec, int workers, int busy, int loaded, int queued, int running,
            Long ready, Duration typicalRun, Duration eta) {
    }

    /** Every model live workers serve, by name. */
    public List<ModelStatus> models() {
        Map<String, FleetGauges.ModelLoad> now = loads.get();
        List<ModelStatus> out = new ArrayList<>();
        for (WorkerRegistry.ModelInfo m : workers.models()) {
            FleetGauges.ModelLoad load = now.getOrDefault(m.name(), new FleetGauges.ModelLoad(0, 0, null, null));
            Duration run = history.typicalRun(m.name()).orElse(null);
            out.add(new ModelStatus(m.name(), m.spec(), m.workers(), m.busy(), m.loaded(), load.queued(),
                    load.running(), load.ready(), run, eta(m, load, run)));
        }
        return out;
    }

    private Duration eta(WorkerRegistry.ModelInfo m, FleetGauges.ModelLoad load, Duration run) {
        if (run == null || m.workers() == 0) {
            return null;
        }
        long ahead = (long) load.queued() + load.running();
        long rounds = (ahead + m.workers() - 1) / m.workers() + 1;
        Duration eta = run.multipliedBy(rounds);
        if (m.loaded() == 0) {
            eta = eta.plus(history.lastLoad(m.name()).orElse(Duration.ZERO));
        }
        return eta;
    }
}
