package org.diffusionbot.common.mq;

import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import java.io.IOException;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The RabbitMQ topology, declared in this one place by bot and workers alike. Every declaration is
 * idempotent (same names, same arguments), so any process may run it at start-up and the client's
 * automatic recovery replays it after a reconnect.
 *
 * <pre>
 *  bot ──(routing key = model)──▶ sd.jobs (direct) ──▶ sd.jobs.&lt;model&gt;  quorum, x-delivery-limit
 *                                                          │ rejected / over the limit
 *                                                          ▼
 *                                      sd.dead (fanout) ──▶ sd.dead  (the bot refunds and tells the user)
 *  worker ──▶ sd.results (queue, quorum)             results and failures: must not be lost
 *  worker ──▶ sd.progress (topic, key = job id)      transient previews: may be dropped
 *  worker ──▶ sd.heartbeats (fanout)                 liveness and stats of every worker
 *  bot    ──▶ sd.control (fanout)                    cancel requests, to every worker
 * </pre>
 */
public final class Topology {
    public static final String JOBS_EXCHANGE = "sd.jobs";
    public static final String JOBS_QUEUE_PREFIX = "sd.jobs.";
    public static final String DEAD_EXCHANGE = "sd.dead";
    public static final String DEAD_QUEUE = "sd.dead";
    public static final String RESULTS_QUEUE = "sd.results";
    public static final String PROGRESS_EXCHANGE = "sd.progress";
    public static final String HEARTBEATS_EXCHANGE = "sd.heartbeats";
    public static final String CONTROL_EXCHANGE = "sd.control";

    /** Model names double as routing keys and queue-name suffixes. */
    public static final Pattern MODEL_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");

    /** Longest backlog kept in a per-process progress or heartbeat queue before the oldest is dropped. */
    public static final int TRANSIENT_QUEUE_MAX_LENGTH = 10_000;

    private Topology() {
    }

    public static String checkModelName(String model) {
        if (model == null || !MODEL_NAME.matcher(model).matches()) {
            throw new IllegalArgumentException("model name '" + model
                    + "' must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        return model;
    }

    public static String jobsQueue(String model) {
        return JOBS_QUEUE_PREFIX + checkModelName(model);
    }

    /** Declares the exchanges and the shared queues (dead letters, results). */
    public static void declareShared(Channel ch) throws IOException {
        ch.exchangeDeclare(JOBS_EXCHANGE, BuiltinExchangeType.DIRECT, true);
        ch.exchangeDeclare(DEAD_EXCHANGE, BuiltinExchangeType.FANOUT, true);
        ch.exchangeDeclare(PROGRESS_EXCHANGE, BuiltinExchangeType.TOPIC, true);
        ch.exchangeDeclare(HEARTBEATS_EXCHANGE, BuiltinExchangeType.FANOUT, true);
        ch.exchangeDeclare(CONTROL_EXCHANGE, BuiltinExchangeType.FANOUT, true);
        ch.queueDeclare(DEAD_QUEUE, true, false, false, Map.of("x-queue-type", "quorum"));
        ch.queueBind(DEAD_QUEUE, DEAD_EXCHANGE, "");
        ch.queueDeclare(RESULTS_QUEUE, true, false, false, Map.of(
                "x-queue-type", "quorum",
                "x-dead-letter-exchange", DEAD_EXCHANGE));
    }

    /**
     * Declares the jobs queue of one model: durable, quorum (replicated in a cluster), dead-lettered
     * to {@link #DEAD_EXCHANGE} when a consumer rejects a job or after {@code deliveryLimit}
     * deliveries, so a poison job ends instead of looping.
     */
    public static String declareJobsQueue(Channel ch, String model, int deliveryLimit) throws IOException {
        String queue = jobsQueue(model);
        ch.queueDeclare(queue, true, false, false, Map.of(
                "x-queue-type", "quorum",
                "x-delivery-limit", deliveryLimit,
                "x-dead-letter-exchange", DEAD_EXCHANGE));
        ch.queueBind(queue, JOBS_EXCHANGE, model);
        return queue;
    }

    /** A private queue of this process bound to a transient fan-out (progress or heartbeats). */
    public static String declarePrivateQueue(Channel ch, String exchange, String bindingKey) throws IOException {
        String queue = ch.queueDeclare("", false, true, true, Map.of(
                "x-max-length", TRANSIENT_QUEUE_MAX_LENGTH,
                "x-overflow", "drop-head")).getQueue();
        ch.queueBind(queue, exchange, bindingKey);
        return queue;
    }
}
