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
 * state (heartbeats). A source that fails keeps its previous figures out of that round (logged at debug).
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
        metrics.fleet(jobs, queues, byState.entrySet().stream()
                .map(e -> new BotMetrics.WorkerCount(e.getKey(), e.getValue())).toList());
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
