package org.diffusionbot.bot.jobs;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.io.IOException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.diffusionbot.common.messages.InvalidMessageException;
import org.diffusionbot.common.messages.JobProgress;
import org.diffusionbot.common.messages.MessageCodec;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Relays worker progress to the user: marks a job running on its first progress, feeds the
 * throttle, and on a short timer edits each job's message with its newest progress.
 */
public final class ProgressRelay implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ProgressRelay.class);
    static final long TICK_MILLIS = 200;

    private final JobStore store;
    private final JobNotifier notifier;
    private final ProgressThrottle throttle;
    private final Map<UUID, JobRecord> running = Collections.synchronizedMap(new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<UUID, JobRecord> eldest) {
            return size() > 10_000;
        }
    });
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "progress-relay");
        t.setDaemon(true);
        return t;
    });

    private final java.util.concurrent.Executor executor;
    private final java.util.Set<UUID> starting = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final RunHistory history;

    /**
     * {@code executor} runs the database work, so the broker's consumer thread never waits on PostgreSQL;
     * {@code history} learns how long each model's loads take (a {@code loading_model} progress says).
     */
    public ProgressRelay(JobStore store, JobNotifier notifier, ProgressThrottle throttle,
            java.util.concurrent.Executor executor, RunHistory history) {
        this.history = history;
        this.store = store;
        this.notifier = notifier;
        this.throttle = throttle;
        this.executor = executor;
    }

    public void start(Connection connection) throws IOException {
        Channel ch = connection.createChannel();
        String queue = Topology.declarePrivateQueue(ch, Topology.PROGRESS_EXCHANGE, "#");
        ch.basicConsume(queue, true, (tag, d) -> onProgress(d.getBody()), tag -> { });
        timer.scheduleWithFixedDelay(this::flush, TICK_MILLIS, TICK_MILLIS, TimeUnit.MILLISECONDS);
    }

    void onProgress(byte[] body) {
        JobProgress p;
        try {
            p = MessageCodec.decode(body, JobProgress.class);
        } catch (InvalidMessageException e) {
            LOG.debug("malformed progress dropped: {}", e.getMessage());
            return;
        }
        if (p.loadingModel() != null && p.etaMillis() > 0) {
            history.loaded(p.loadingModel(), java.time.Duration.ofMillis(p.etaMillis()));
        }
        throttle.offer(p);
        JobRecord known = running.get(p.jobId());
        // first progress of a job, or of a job another worker took over (redelivered after a crash)
        boolean news = known == null || !p.workerId().equals(known.workerId());
        if (news && starting.add(p.jobId())) {
            executor.execute(() -> {
                try {
                    store.markRunning(p.jobId(), p.workerId()).ifPresent(j -> running.put(j.id(), j));
                } catch (RuntimeException e) {
                    LOG.warn("progress of job {} not relayed: {}", p.jobId(), e.getMessage());
                } finally {
                    starting.remove(p.jobId());
                }
            });
        }
    }

    void flush() {
        try {
            throttle.dueNotices().forEach(Runnable::run);
            for (ProgressThrottle.Edit e : throttle.due(running::containsKey)) {
                JobRecord job = running.get(e.progress().jobId());
                if (job != null) {
                    notifier.progress(job, e);
                }
            }
        } catch (RuntimeException e) {
            LOG.warn("progress flush failed: {}", e.getMessage());
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
