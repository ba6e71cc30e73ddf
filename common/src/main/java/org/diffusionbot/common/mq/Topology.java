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
 *                                              └──▶ sd.dead.by-results (headers, sd-results = Q) ──▶ Q.dead
 *  worker ──▶ Q = the job's reply_to: sd.results, or sd.results.&lt;name&gt; of one bot deployment (quorum)
 *                                                    results and failures: must not be lost
 *  worker ──▶ sd.progress (topic, key = job id)      transient previews: may be dropped
 *  worker ──▶ sd.heartbeats (fanout)                 liveness and stats of every worker
 *  bot    ──▶ sd.control (fanout)                    cancel requests, to every worker
 * </pre>
 *
 * <p>Workers are shared: any bot on the vhost may publish jobs to a model's queue. Each job names the
 * queue its outcome goes to (AMQP {@code reply_to}, and the header {@code sd-results} for dead letters),
 * so bot deployments sharing a vhost each get their own results and dead letters; the default
 * {@code sd.results} bot also sees every dead letter on {@code sd.dead} and ignores jobs it does not know.
 */
public final class Topology {
    public static final String JOBS_EXCHANGE = "sd.jobs";
    public static final String JOBS_QUEUE_PREFIX = "sd.jobs.";
    public static final String DEAD_EXCHANGE = "sd.dead";
    public static final String DEAD_QUEUE = "sd.dead";
    /** The default results queue (a bot deployment may use {@code sd.results.<name>}). */
    public static final String RESULTS_QUEUE = "sd.results";
    /** Header of a job naming its results queue; dead letters are routed on it. */
    public static final String RESULTS_HEADER = "sd-results";
    public static final String DEAD_BY_RESULTS_EXCHANGE = "sd.dead.by-results";
    private static final Pattern RESULTS_QUEUE_NAME = Pattern.compile("sd\\.results(\\.[A-Za-z0-9_-]{1,64})?");
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

    /** Whether {@code name} is a results queue name: {@code sd.results} or {@code sd.results.<name>}. */
    public static boolean isResultsQueue(String name) {
        return name != null && RESULTS_QUEUE_NAME.matcher(name).matches();
    }

    public static String checkResultsQueue(String name) {
        if (!isResultsQueue(name)) {
            throw new IllegalArgumentException("results queue '" + name + "' must be sd.results or sd.results.<name>,"
                    + " the name 1-64 letters, digits, '_' or '-'");
        }
        return name;
    }

    /** The queue of the dead letters of jobs whose outcome goes to {@code resultsQueue}. */
    public static String deadQueueFor(String resultsQueue) {
        return checkResultsQueue(resultsQueue).equals(RESULTS_QUEUE) ? DEAD_QUEUE : resultsQueue + ".dead";
    }

    /**
     * Declares one bot deployment's results queue and its dead-letter queue: {@code sd.results} with
     * {@code sd.dead} (every dead letter), or {@code sd.results.<name>} with {@code sd.results.<name>.dead}
     * (the dead letters of its own jobs, by their {@link #RESULTS_HEADER}).
     */
    public static void declareResults(Channel ch, String resultsQueue) throws IOException {
        String dead = deadQueueFor(resultsQueue);
        if (!resultsQueue.equals(RESULTS_QUEUE)) {
            ch.queueDeclare(resultsQueue, true, false, false, Map.of(
                    "x-queue-type", "quorum",
                    "x-dead-letter-exchange", DEAD_EXCHANGE));
            ch.queueDeclare(dead, true, false, false, Map.of("x-queue-type", "quorum"));
            ch.queueBind(dead, DEAD_BY_RESULTS_EXCHANGE, "", Map.of("x-match", "all", RESULTS_HEADER, resultsQueue));
        }
    }

    /** Declares the exchanges and the shared queues (dead letters, default results queue). */
    public static void declareShared(Channel ch) throws IOException {
        ch.exchangeDeclare(JOBS_EXCHANGE, BuiltinExchangeType.DIRECT, true);
        ch.exchangeDeclare(DEAD_EXCHANGE, BuiltinExchangeType.FANOUT, true);
        ch.exchangeDeclare(DEAD_BY_RESULTS_EXCHANGE, BuiltinExchangeType.HEADERS, true);
        ch.exchangeBind(DEAD_BY_RESULTS_EXCHANGE, DEAD_EXCHANGE, "");
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
