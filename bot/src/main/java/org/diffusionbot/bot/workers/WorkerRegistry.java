package org.diffusionbot.bot.workers;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.diffusionbot.common.ModelSpec;
import org.diffusionbot.common.messages.InvalidMessageException;
import org.diffusionbot.common.messages.MessageCodec;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.mq.Topology;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The workers the bot has heard from, built from their heartbeats ({@code sd.heartbeats}, on a private queue of
 * this process). A worker silent for {@link #LOST_AFTER_BEATS} heartbeat intervals is lost: it still shows in
 * {@code /admin workers} (for an hour) but its models no longer count as served. Kept in memory: after a restart
 * the registry is complete again within one heartbeat interval.
 */
public final class WorkerRegistry implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WorkerRegistry.class);
    public static final int LOST_AFTER_BEATS = 3;
    static final Duration FORGET_AFTER = Duration.ofHours(1);

    private final Clock clock;
    private final Duration lostAfter;
    private final Map<String, Seen> workers = new ConcurrentHashMap<>();
    /** What the heartbeats last said of each model (kept after the model is unloaded or its worker is gone). */
    private final Map<String, ModelSpec> specs = new ConcurrentHashMap<>();
    private Channel channel;

    /** A worker as last heard from. */
    public record Seen(WorkerHeartbeat heartbeat, Instant receivedAt, boolean lost) {
    }

    /**
     * One model and the workers (not lost) that serve it: all, busy ones, those that have it loaded now; and what it
     * is ({@code spec}: its family and native size from the heartbeats; null while none described it).
     */
    public record ModelInfo(String name, ModelSpec spec, int workers, int busy, int loaded) {
    }

    public WorkerRegistry(Clock clock, int heartbeatSeconds) {
        this.clock = clock;
        this.lostAfter = Duration.ofSeconds((long) heartbeatSeconds * LOST_AFTER_BEATS);
    }

    public void start(Connection connection) throws IOException {
        channel = connection.createChannel();
        String queue = Topology.declarePrivateQueue(channel, Topology.HEARTBEATS_EXCHANGE, "");
        channel.basicConsume(queue, true, (tag, d) -> onHeartbeat(d.getBody()), tag -> { });
    }

    void onHeartbeat(byte[] body) {
        try {
            record(MessageCodec.decode(body, WorkerHeartbeat.class));
        } catch (InvalidMessageException e) {
            LOG.debug("malformed heartbeat dropped: {}", e.getMessage());
        }
    }

    /** Records a heartbeat (an older one than the last seen is ignored). */
    public void record(WorkerHeartbeat hb) {
        Seen kept = workers.merge(hb.workerId(), new Seen(hb, clock.instant(), false),
                (old, now) -> old.heartbeat().sentAt().isAfter(hb.sentAt()) ? old : now);
        if (kept.heartbeat() == hb) {
            hb.modelInfo().forEach(i -> specs.put(i.model(), ModelSpec.of(i)));
        }
    }

    /**
     * What a model is, as the last heartbeat that described it said: its family and native size (workers describe
     * the models they have loaded; the description is remembered after an unload). {@link ModelSpec#UNKNOWN} (SD 1.x
     * at 512×512, the strictest limits) for a model no heartbeat described yet.
     */
    public ModelSpec spec(String model) {
        return specs.getOrDefault(model, ModelSpec.UNKNOWN);
    }

    /** Every worker heard from in the last hour, lost ones included, by id. */
    public List<Seen> workers() {
        Instant now = clock.instant();
        List<Seen> out = new ArrayList<>();
        workers.entrySet().removeIf(e -> e.getValue().receivedAt().plus(FORGET_AFTER).isBefore(now));
        for (Seen s : workers.values()) {
            out.add(new Seen(s.heartbeat(), s.receivedAt(), s.receivedAt().plus(lostAfter).isBefore(now)));
        }
        out.sort(Comparator.comparing(s -> s.heartbeat().workerId()));
        return out;
    }

    /**
     * What the newest heartbeat of a live worker serving {@code model} recommends for it (its sidecar file), or
     * null when no live worker announces a recommendation.
     */
    public WorkerHeartbeat.ModelDefaults defaultsFor(String model) {
        WorkerHeartbeat.ModelDefaults best = null;
        Instant newest = null;
        for (Seen s : workers()) {
            if (s.lost() || s.heartbeat().state() == WorkerHeartbeat.State.STOPPING) {
                continue;
            }
            var d = s.heartbeat().defaultsFor(model);
            if (d.isPresent() && (newest == null || s.heartbeat().sentAt().isAfter(newest))) {
                best = d.get();
                newest = s.heartbeat().sentAt();
            }
        }
        return best;
    }

    /** The models served by workers that are alive (not lost, not stopping), by name. */
    public List<ModelInfo> models() {
        Map<String, int[]> counts = new TreeMap<>();
        for (Seen s : workers()) {
            if (s.lost() || s.heartbeat().state() == WorkerHeartbeat.State.STOPPING) {
                continue;
            }
            for (String m : new TreeSet<>(s.heartbeat().models())) {
                int[] c = counts.computeIfAbsent(m, k -> new int[3]);
                c[0]++;
                if (s.heartbeat().state() == WorkerHeartbeat.State.BUSY) {
                    c[1]++;
                }
                if (s.heartbeat().residentModels().contains(m)) {
                    c[2]++;
                }
            }
        }
        List<ModelInfo> out = new ArrayList<>();
        counts.forEach((m, c) -> out.add(new ModelInfo(m, specs.get(m), c[0], c[1], c[2])));
        return out;
    }

    /**
     * Whether the images of a job for {@code model} will pass the safety check: at least one live worker serves the
     * model, and every live one that does announces the checker ({@code safety_checker} in its heartbeat), so
     * whichever takes the job checks its images.
     */
    public boolean checksImages(String model) {
        boolean served = false;
        for (Seen s : workers()) {
            if (s.lost() || s.heartbeat().state() == WorkerHeartbeat.State.STOPPING
                    || !s.heartbeat().models().contains(model)) {
                continue;
            }
            if (!s.heartbeat().safetyChecker()) {
                return false;
            }
            served = true;
        }
        return served;
    }

    public Duration lostAfter() {
        return lostAfter;
    }

    @Override
    public void close() {
        try {
            if (channel != null && channel.isOpen()) {
                channel.close();
            }
        } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException e) {
            LOG.debug("closing the heartbeat channel: {}", e.getMessage());
        }
    }
}
