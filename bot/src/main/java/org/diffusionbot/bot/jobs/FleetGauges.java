package org.diffusionbot.bot.jobs;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.diffusionbot.bot.metrics.BotMetrics;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.JobStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every few seconds, the fleet's state into {@link BotMetrics#fleet}: jobs queued and running per model
 * (PostgreSQL), each model's queue depth and consumers (RabbitMQ, by a passive declare of
 * {@code sd.jobs.<model>} for the models workers announce, jobs name, and the default model), workers by
 * state (heartbeats). A source that fails keeps its previous figures out of that round (logged at debug). The last
 * round's figures per model are kept for {@code /models} and {@code /admin workers} ({@link #latest}).
 */
public final class FleetGauges implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FleetGauges.class);

    private final JobStore store;
    private final WorkerRegistry workers;
    private final BotMetrics metrics;
    private final String defaultModel;
    private final Clock clock;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "fleet-gauges");
        t.setDaemon(true);
        return t;
    });
    private Connection connection;
    private Channel channel;
    private volatile Map<String, ModelLoad> latest = Map.of();

    /**
     * One model's jobs and queue, as the last round saw them.
     *
     * @param queued    its jobs waiting for a worker (PostgreSQL: prefetched by a worker but not started included)
     * @param running   its jobs running now (PostgreSQL)
     * @param ready     jobs ready in {@code sd.jobs.<model>}, not yet delivered to a worker (RabbitMQ); null when the
     *                  queue does not exist or the broker did not answer
     * @param consumers the queue's consumers (workers taking its jobs); null as {@code ready}
     */
    public record ModelLoad(int queued, int running, Long ready, Long consumers) {
    }

    public FleetGauges(JobStore store, WorkerRegistry workers, BotMetrics metrics, String defaultModel, Clock clock) {
        this.store = store;
        this.workers = workers;
        this.metrics = metrics;
        this.defaultModel = defaultModel;
        this.clock = clock;
    }

    public void start(Connection rabbit, Duration every) {
        this.connection = rabbit;
        timer.scheduleWithFixedDelay(this::refresh, 0, every.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** One round (also called by tests). */
    public void refresh() {
        List<BotMetrics.JobCount> jobs = new ArrayList<>();
        TreeSet<String> models = new TreeSet<>(List.of(defaultModel));
        try {
            double now = clock.millis() / 1000.0;
            for (JobStore.ActiveJobs a : store.activeJobs()) {
                jobs.add(new BotMetrics.JobCount(a.model(), a.state().name().toLowerCase(Locale.ROOT), a.count(),
                        a.state() == JobState.QUEUED ? Math.max(0, now - a.oldest().toEpochMilli() / 1000.0) : 0));
                models.add(a.model());
            }
        } catch (RuntimeException e) {
            LOG.debug("job counts unavailable: {}", e.getMessage());
        }
        Map<String, Integer> byState = new TreeMap<>();
        for (WorkerRegistry.Seen s : workers.workers()) {
            byState.merge(s.lost() ? "lost" : s.heartbeat().state().name().toLowerCase(Locale.ROOT), 1, Integer::sum);
            models.addAll(s.heartbeat().models());
        }
        for (String model : models) { // every model known, 0 where it has no job: the series stay continuous
            for (String state : List.of("queued", "running")) {
                if (jobs.stream().noneMatch(j -> j.model().equals(model) && j.state().equals(state))) {
                    jobs.add(new BotMetrics.JobCount(model, state, 0, 0));
                }
            }
        }
        List<BotMetrics.Queue> queues = new ArrayList<>();
        for (String model : models) {
            AMQP.Queue.DeclareOk ok = declarePassive(Topology.jobsQueue(model));
            if (ok != null) {
                queues.add(new BotMetrics.Queue(model, ok.getMessageCount(), ok.getConsumerCount()));
            }
        }
        Map<String, ModelLoad> loads = new TreeMap<>();
        for (String model : models) {
            int queued = jobs.stream().filter(j -> j.model().equals(model) && j.state().equals("queued"))
                    .mapToInt(BotMetrics.JobCount::count).sum();
            int running = jobs.stream().filter(j -> j.model().equals(model) && j.state().equals("running"))
                    .mapToInt(BotMetrics.JobCount::count).sum();
            BotMetrics.Queue q = queues.stream().filter(x -> x.model().equals(model)).findFirst().orElse(null);
            loads.put(model, new ModelLoad(queued, running, q == null ? null : q.ready(),
                    q == null ? null : q.consumers()));
        }
        latest = Map.copyOf(loads);
        metrics.fleet(jobs, queues, byState.entrySet().stream()
                .map(e -> new BotMetrics.WorkerCount(e.getKey(), e.getValue())).toList());
    }

    /** Each model's jobs and queue as the last round saw them (empty before the first round). */
    public Map<String, ModelLoad> latest() {
        return latest;
    }

    /** The queue's counts, or null when it does not exist (no worker ever declared it) or the broker is away. */
    private AMQP.Queue.DeclareOk declarePassive(String queue) {
        try {
            if (channel == null || !channel.isOpen()) {
                channel = connection.createChannel(); // a missing queue closes the channel
            }
            return channel.queueDeclarePassive(queue);
        } catch (IOException | RuntimeException e) {
            LOG.debug("queue {} not counted: {}", queue, e.getMessage());
            return null;
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
