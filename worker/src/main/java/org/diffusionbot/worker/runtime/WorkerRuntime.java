package org.diffusionbot.worker.runtime;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.MessageProperties;
import java.io.IOException;
import java.net.InetAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.diffusionbot.common.image.GenerationParameters;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.common.messages.CancelJob;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.messages.InvalidMessageException;
import org.diffusionbot.common.messages.JobFailure;
import org.diffusionbot.common.messages.JobProgress;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.JobResult;
import org.diffusionbot.common.messages.Message;
import org.diffusionbot.common.messages.MessageCodec;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.worker.WorkerConfig;
import org.diffusionbot.worker.engine.pipeline.BatchKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker process around an {@link ImageGenerator}: consumes its model's job queue with a
 * prefetch equal to the batch size, runs compatible jobs together, publishes progress and
 * results, and acks a job only after the broker confirmed its result.
 *
 * <ul>
 *   <li>Malformed messages are rejected (dead-lettered) with one log line.</li>
 *   <li>Permanent failures publish a {@link JobFailure} and reject the job without requeue.</li>
 *   <li>A generator exception is transient: the batch is requeued (the queue's delivery limit ends a
 *       job that fails everywhere).</li>
 *   <li>{@link CancelJob} broadcasts skip a queued job and stop a running one at its next step.</li>
 *   <li>{@link #close()} (SIGTERM) stops consuming, finishes the batch in hand and returns unstarted
 *       jobs to the queue.</li>
 * </ul>
 */
public final class WorkerRuntime implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WorkerRuntime.class);
    /** Progress without a preview is published at most this often per job. */
    static final Duration PROGRESS_INTERVAL = Duration.ofMillis(500);
    private static final long CONFIRM_TIMEOUT_MS = 30_000;
    /** How long the first job of a batch waits for compatible ones already on their way. */
    static final Duration BATCH_WINDOW = Duration.ofMillis(30);
    private static final int REMEMBERED_CANCELS = 10_000;

    private final WorkerConfig config;
    private final ModelPool models;
    private final Clock clock;
    private final LinkedBlockingQueue<Delivered> inbox = new LinkedBlockingQueue<>();
    private final Set<UUID> cancelled = Collections.newSetFromMap(Collections.synchronizedMap(
            new LinkedHashMap<>() {
                @Override
                protected boolean removeEldestEntry(Map.Entry<UUID, Boolean> eldest) {
                    return size() > REMEMBERED_CANCELS;
                }
            }));
    private final AtomicInteger jobsInHand = new AtomicInteger();
    private final AtomicLong jobsDone = new AtomicLong();
    private final AtomicLong stepsDone = new AtomicLong();
    private final Map<UUID, Long> lastProgress = new ConcurrentHashMap<>();
    private final String host;

    private Connection connection;
    private Channel consumeChannel;
    private Channel resultChannel;
    private Channel progressChannel;
    /** Per model: its consumer's tag and whether it consumes as resident (priority, full prefetch). */
    private final Map<String, Subscription> subscriptions = new ConcurrentHashMap<>();
    /** Set by the result channel's return listener: the last outcome published found no queue. */
    private volatile boolean unroutable;
    private Thread runner;
    private ScheduledExecutorService heartbeats;
    /**
     * Encodes and publishes progress off the generating thread, so the GPU is not kept waiting while
     * previews become PNGs. Best effort and bounded: under back-pressure the oldest update is dropped
     * (the bot shows only the newest anyway and ignores progress that arrives after a job's result).
     */
    private final ThreadPoolExecutor progressSender = new ThreadPoolExecutor(
            1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(256), r -> {
                Thread t = new Thread(r, "worker-progress");
                t.setDaemon(true);
                return t;
            }, new ThreadPoolExecutor.DiscardOldestPolicy());
    private volatile boolean stopping;
    private volatile boolean busy;
    private volatile long busySinceNanos;
    private volatile boolean hung;
    private Runnable onHung = () -> Runtime.getRuntime().halt(3);
    private volatile java.util.function.Supplier<List<WorkerHeartbeat.Addon>> loras = List::of;
    private volatile java.util.function.Supplier<List<WorkerHeartbeat.Addon>> embeddings = List::of;
    private volatile double stepsPerSecond;
    private final WorkerMetrics metrics;

    /**
     * A job off the queue; {@code replyTo}: the results queue its bot named (default {@code sd.results});
     * {@code prepared} the job made ready by its model's generator (its batch key), null until its model is loaded;
     * {@code arrived}: System.nanoTime().
     */
    private record Delivered(long tag, JobRequest request, PreparedJob prepared, String replyTo, long arrived) {
        Delivered withPrepared(PreparedJob p) {
            return new Delivered(tag, request, p, replyTo, arrived);
        }

        BatchKey key() {
            return prepared == null ? null : prepared.key();
        }
    }

    private record Subscription(String consumerTag, boolean resident) {
    }

    /** Consumer priority of a resident model's queue: the broker offers its jobs to such workers first. */
    static final int RESIDENT_PRIORITY = 10;
    /** A job for a model that is not loaded waits at most this long for jobs of loaded models to go first. */
    static final Duration LOAD_AFTER = Duration.ofSeconds(30);

    public WorkerRuntime(WorkerConfig config, ImageGenerator generator, Clock clock) {
        this(config, generator, clock, new WorkerMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry()));
    }

    /** As above, recording into {@code metrics} (the registry {@code METRICS_PORT} serves). */
    public WorkerRuntime(WorkerConfig config, ImageGenerator generator, Clock clock, WorkerMetrics metrics) {
        this(config, ModelPool.of(config.modelName(), generator, metrics), clock, metrics);
    }

    /** A worker serving every model of {@code models} (loaded on demand), recording into {@code metrics}. */
    public WorkerRuntime(WorkerConfig config, ModelPool models, Clock clock, WorkerMetrics metrics) {
        this.config = config;
        this.models = models;
        this.clock = clock;
        this.metrics = metrics;
        metrics.jobsInHand(jobsInHand::get);
        metrics.models(models.names());
        String h;
        try {
            h = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            h = "unknown";
        }
        this.host = h;
    }

    /**
     * What to do once the watchdog found a batch running past {@code jobTimeout} (after the broker
     * connection was dropped so the jobs go back to the queue). Default: halt the JVM with status 3,
     * for the supervisor (compose, systemd) to start a fresh worker. Tests replace it.
     */
    public void onHung(Runnable action) {
        this.onHung = action;
    }

    /**
     * What the heartbeats announce as this worker's LoRAs and embeddings (read at every heartbeat, so files added
     * while it runs show up; at most {@link WorkerHeartbeat#MAX_ADDONS} of each are sent). Default: none.
     */
    public void announce(java.util.function.Supplier<List<WorkerHeartbeat.Addon>> loras,
            java.util.function.Supplier<List<WorkerHeartbeat.Addon>> embeddings) {
        this.loras = loras;
        this.embeddings = embeddings;
    }

    private static List<WorkerHeartbeat.Addon> addons(java.util.function.Supplier<List<WorkerHeartbeat.Addon>> s) {
        try {
            List<WorkerHeartbeat.Addon> all = s.get();
            return all.size() <= WorkerHeartbeat.MAX_ADDONS ? all : all.subList(0, WorkerHeartbeat.MAX_ADDONS);
        } catch (RuntimeException e) {
            LOG.warn("add-ons not listed in the heartbeat: {}", e.getMessage());
            return List.of();
        }
    }

    /** Connects, declares the topology and starts consuming. */
    public void start() throws IOException, java.util.concurrent.TimeoutException {
        connection = config.rabbit().connectionFactory("worker " + config.workerId())
                .newConnection("worker " + config.workerId());
        consumeChannel = connection.createChannel();
        Topology.declareShared(consumeChannel);
        for (String model : models.names()) {
            try {
                Topology.declareJobsQueue(consumeChannel, model, config.rabbit().deliveryLimit());
            } catch (IOException e) {
                if (String.valueOf(e.getCause()).contains("inequivalent arg")) {
                    throw new org.diffusionbot.common.config.ConfigException("queue " + Topology.jobsQueue(model)
                            + " already exists with other arguments (" + e.getCause().getMessage().replaceAll(".*reply-text=", "")
                            + "): set JOB_DELIVERY_LIMIT back to the value it was created with, or delete the queue");
                }
                throw e;
            }
        }
        resultChannel = connection.createChannel();
        resultChannel.confirmSelect();
        resultChannel.addReturnListener(r -> unroutable = true);
        progressChannel = connection.createChannel();

        Channel control = connection.createChannel();
        String controlQueue = Topology.declarePrivateQueue(control, Topology.CONTROL_EXCHANGE, "");
        control.basicConsume(controlQueue, true, (tag, d) -> {
            try {
                CancelJob c = MessageCodec.decode(d.getBody(), CancelJob.class);
                cancelled.add(c.jobId());
                LOG.info("cancel requested for job {}", c.jobId());
            } catch (InvalidMessageException e) {
                LOG.warn("ignoring malformed control message: {}", e.getMessage());
            }
        }, tag -> { });

        runner = new Thread(this::runLoop, "worker-runner");
        runner.start();
        heartbeats = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "worker-heartbeat");
            t.setDaemon(true);
            return t;
        });
        Channel hb = connection.createChannel();
        heartbeats.scheduleAtFixedRate(() -> publishHeartbeat(hb), 0, config.heartbeatSeconds(), TimeUnit.SECONDS);
        heartbeats.scheduleAtFixedRate(this::watchdog, 1, 1, TimeUnit.SECONDS);

        subscribe();
        LOG.info("worker {} consuming {} on {} (batch size {}; loaded: {})", config.workerId(),
                String.join(", ", models.names().stream().map(Topology::jobsQueue).toList()), models.device(),
                config.batchSize(), models.resident());
    }

    /**
     * Consumes each model's queue, or consumes it again where the model was loaded or unloaded since:
     * a loaded model's queue with prefetch = batch size at {@link #RESIDENT_PRIORITY} (the broker gives
     * its jobs to workers that have the model loaded first), another's with prefetch 1 at priority 0.
     */
    private synchronized void subscribe() throws IOException {
        for (String model : models.names()) {
            boolean resident = models.isResident(model);
            Subscription s = subscriptions.get(model);
            if (stopping || s != null && s.resident() == resident) {
                continue;
            }
            if (s != null) {
                consumeChannel.basicCancel(s.consumerTag()); // its unacked jobs stay with this worker
            }
            consumeChannel.basicQos(resident ? config.batchSize() : 1);
            String tag = consumeChannel.basicConsume(Topology.jobsQueue(model), false,
                    Map.of("x-priority", resident ? RESIDENT_PRIORITY : 0), new DefaultConsumer(consumeChannel) {
                        @Override
                        public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body)
                                throws IOException {
                            try {
                                JobRequest job = MessageCodec.decode(body, JobRequest.class);
                                inbox.add(new Delivered(env.getDeliveryTag(), job, prepare(job), replyTo(job, props),
                                        System.nanoTime()));
                            } catch (InvalidMessageException e) {
                                LOG.warn("rejecting malformed job message (dead-lettered): {}", e.getMessage());
                                metrics.failure("malformed");
                                consumeChannel.basicReject(env.getDeliveryTag(), false);
                            }
                        }
                    });
            subscriptions.put(model, new Subscription(tag, resident));
        }
    }

    /** Stops taking jobs, finishes the batch in hand, returns unstarted jobs to the queue, disconnects. */
    @Override
    public void close() {
        stopping = true;
        synchronized (this) {
            for (Subscription s : subscriptions.values()) {
                try {
                    if (consumeChannel.isOpen()) {
                        consumeChannel.basicCancel(s.consumerTag());
                    }
                } catch (IOException e) {
                    LOG.warn("could not cancel the consumer: {}", e.getMessage());
                }
            }
        }
        if (runner != null) {
            try {
                runner.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (heartbeats != null) {
            heartbeats.shutdownNow();
        }
        progressSender.shutdown();
        try {
            progressSender.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (connection != null && connection.isOpen()) {
            try {
                connection.close(5_000);
            } catch (IOException | RuntimeException e) {
                LOG.warn("closing the connection failed: {}", e.getMessage());
            }
        }
        LOG.info("worker {} stopped after {} job(s)", config.workerId(), jobsDone.get());
    }

    public long jobsDone() {
        return jobsDone.get();
    }

    private void runLoop() {
        List<Delivered> pending = new ArrayList<>();
        try {
            while (!stopping) {
                Delivered d = inbox.poll(100, TimeUnit.MILLISECONDS);
                if (d != null) {
                    pending.add(d);
                }
                inbox.drainTo(pending);
                if (stopping || pending.isEmpty()) {
                    continue;
                }
                fillBatchWindow(pending);
                if (!loadNext(pending)) {
                    continue;
                }
                List<Delivered> batch = Batcher.take(pending, Delivered::request, Delivered::key, config.batchSize());
                runBatch(batch);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.error("worker loop crashed", e);
        } finally {
            inbox.drainTo(pending);
            for (Delivered d : pending) {
                nack(d, true);
            }
            if (!pending.isEmpty()) {
                LOG.info("returned {} unstarted job(s) to the queue", pending.size());
            }
        }
    }

    /**
     * Puts first the job to run next and makes sure its model is loaded: the oldest job of a loaded
     * model, unless a job of another model has waited {@link #LOAD_AFTER} (or no job's model is
     * loaded): then that model is loaded (its waiting jobs are told). Counts the prompt chunks of jobs
     * whose model was not loaded when they came. False when the load failed (its jobs went back to the
     * queue) or the job's model is not served here (it stays first and fails in {@link #runBatch}).
     */
    private boolean loadNext(List<Delivered> pending) throws InterruptedException {
        long now = System.nanoTime();
        Delivered next = pending.stream().filter(d -> models.isResident(d.request().model())).findFirst()
                .orElse(pending.get(0));
        Delivered oldest = pending.get(0);
        if (next != oldest && now - oldest.arrived() > LOAD_AFTER.toNanos()) {
            next = oldest;
        }
        pending.remove(next);
        pending.add(0, next);
        String model = next.request().model();
        if (!models.names().contains(model)) {
            return true;
        }
        if (!models.isResident(model)) {
            try {
                models.acquire(model, (name, last) -> announceLoad(pending, name, last));
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                LOG.error("loading model {} failed; its jobs go back to the queue", model, e);
                metrics.failure("model_load");
                for (java.util.Iterator<Delivered> it = pending.iterator(); it.hasNext(); ) {
                    Delivered d = it.next();
                    if (d.request().model().equals(model)) {
                        it.remove();
                        requeue(d);
                    }
                }
                return false;
            }
            try {
                subscribe();
            } catch (IOException | RuntimeException e) {
                LOG.warn("could not change the consumers' priorities: {}", e.getMessage());
            }
        }
        pending.replaceAll(d -> d.prepared() == null && models.isResident(d.request().model())
                ? d.withPrepared(prepare(d.request())) : d);
        return true;
    }

    /** Tells the jobs of {@code model} waiting here that it is being loaded (with the last load's time as ETA). */
    private void announceLoad(List<Delivered> pending, String model, Duration lastLoad) {
        LOG.info("loading model {} for {} waiting job(s)", model,
                pending.stream().filter(d -> d.request().model().equals(model)).count());
        for (Delivered d : pending) {
            JobRequest r = d.request();
            if (r.model().equals(model)) {
                Instant at = clock.instant();
                progressSender.execute(() -> publishProgress(new JobProgress(r.jobId(), config.workerId(), 0, r.steps(),
                        lastLoad == null ? 0 : lastLoad.toMillis(), null, at, model)));
            }
        }
    }

    /** The job made ready by its model's generator, once: null while its model is not loaded; a job batched
     * alone ({@link PreparedJob#alone}) for a model not served here or when preparing it failed. */
    private PreparedJob prepare(JobRequest job) {
        ImageGenerator g = models.peek(job.model());
        if (g == null) {
            return models.names().contains(job.model()) ? null : PreparedJob.alone(job);
        }
        try {
            return g.prepare(job);
        } catch (RuntimeException e) {
            LOG.warn("could not prepare job {} (it runs alone): {}", job.jobId(), e.toString());
            return PreparedJob.alone(job);
        }
    }

    /**
     * Deliveries arrive one at a time even when many jobs are queued; waiting a moment for the
     * prefetched ones lets them share the batch (worth far more on a GPU than the wait costs).
     */
    private void fillBatchWindow(List<Delivered> pending) throws InterruptedException {
        long deadline = System.nanoTime() + BATCH_WINDOW.toNanos();
        while (pending.size() < config.batchSize()) {
            long left = deadline - System.nanoTime();
            Delivered more = left > 0 ? inbox.poll(left, TimeUnit.NANOSECONDS) : null;
            if (more == null) {
                return;
            }
            pending.add(more);
        }
    }

    private void runBatch(List<Delivered> deliveries) {
        List<Delivered> runnable = new ArrayList<>();
        for (Delivered d : deliveries) {
            JobRequest r = d.request();
            if (cancelled.contains(r.jobId())) {
                finishWithFailure(d, JobFailure.Code.CANCELLED, "cancelled before it started");
            } else if (!models.names().contains(r.model())) {
                finishWithFailure(d, JobFailure.Code.UNKNOWN_MODEL, "this worker serves " + models.names()
                        + ", not '" + r.model() + "'");
            } else {
                runnable.add(d);
            }
        }
        if (runnable.isEmpty()) {
            return;
        }
        List<JobRequest> requests = runnable.stream().map(Delivered::request).toList();
        busySinceNanos = System.nanoTime();
        busy = true;
        jobsInHand.set(runnable.size());
        Instant started = clock.instant();
        List<JobOutcome> outcomes;
        ModelFamily family;
        try {
            ImageGenerator generator = models.acquire(requests.get(0).model(), (m, last) -> { });
            family = ModelFamily.fromId(generator.modelInfo(requests.get(0).model()).family());
            long switchesBefore = generator.loraSwitches();
            try {
                List<PreparedJob> jobs = runnable.stream()
                        .map(d -> d.prepared() != null ? d.prepared() : generator.prepare(d.request())).toList();
                outcomes = generator.generate(jobs, new Progress(started, requests), cancelled::contains);
            } finally {
                metrics.loraSwitches(requests.get(0).model(), generator.loraSwitches() - switchesBefore);
            }
            if (outcomes.size() != runnable.size()) {
                throw new IllegalStateException("generator returned " + outcomes.size() + " outcomes for "
                        + runnable.size() + " jobs");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            runnable.forEach(this::requeue);
            return;
        } catch (Exception e) {
            LOG.error("batch of {} job(s) failed; returning them to the queue", runnable.size(), e);
            metrics.failure("generator_error");
            runnable.forEach(this::requeue);
            return;
        } finally {
            busy = false;
            jobsInHand.set(0);
        }
        Instant finished = clock.instant();
        long secs = Math.max(1, Duration.between(started, finished).toMillis());
        stepsPerSecond = requests.get(0).steps() * 1000.0 / secs;
        stepsDone.addAndGet(requests.get(0).steps());
        metrics.batch(config.modelName(), runnable.size(), requests.get(0).steps(), Duration.between(started, finished));
        for (int i = 0; i < runnable.size(); i++) {
            Delivered d = runnable.get(i);
            lastProgress.remove(d.request().jobId());
            JobOutcome o = outcomes.get(i);
            if (o instanceof JobOutcome.Succeeded s) {
                finishWithResult(d, s, family, started, finished);
            } else if (o instanceof JobOutcome.Failed f) {
                finishWithFailure(d, f.code(), f.message());
            }
        }
    }

    /** @param family the model's: its default clip skip is the one a job without one ran with ({@code Clip skip}) */
    private void finishWithResult(Delivered d, JobOutcome.Succeeded s, ModelFamily family, Instant started,
            Instant finished) {
        JobRequest r = d.request();
        List<JobResult.Image> images = new ArrayList<>();
        List<JobResult.Safety> safety = new ArrayList<>();
        for (JobOutcome.Image im : s.images()) {
            if (im.safety() != null) {
                safety.add(new JobResult.Safety(im.index(), im.safety().nsfw(), im.safety().score()));
            }
            GenerationParameters p = new GenerationParameters(r.prompt(), r.negativePrompt(), r.steps(), r.sampler(),
                    r.cfg(), im.seed(), im.width(), im.height(), r.model(), family.effectiveClipSkip(r.clipSkip()), r.strength(), r.schedule(),
                    r.guidanceRescaleOrZero());
            images.add(new JobResult.Image(im.index(), im.seed(), im.width(), im.height(),
                    p.toPng(im.width(), im.height(), im.rgb(), s.infotext())));
        }
        JobResult result = new JobResult(r.jobId(), config.workerId(), images, new JobResult.Timings(
                Math.max(0, Duration.between(r.createdAt(), started).toMillis()),
                Duration.between(started, finished).toMillis(),
                Math.max(0, Duration.between(r.createdAt(), finished).toMillis())), s.notes(), finished, safety);
        if (publishConfirmed(result, d.replyTo())) {
            ack(d);
            jobsDone.incrementAndGet();
            metrics.images(r.model(), images.size());
            metrics.job(r.model(), "succeeded");
        } else {
            requeue(d);
        }
    }

    private void finishWithFailure(Delivered d, JobFailure.Code code, String message) {
        JobFailure f = new JobFailure(d.request().jobId(), config.workerId(), code, message, clock.instant());
        if (!publishConfirmed(f, d.replyTo())) {
            requeue(d);
        } else if (code == JobFailure.Code.CANCELLED) {
            ack(d);
            metrics.job(d.request().model(), "cancelled");
        } else {
            LOG.warn("job {} failed permanently ({}): {}", d.request().jobId(), code, message);
            nack(d, false);
            metrics.job(d.request().model(), "failed");
            metrics.failure(code.name());
        }
    }

    /** Returns a job that was taken but not finished to its queue. */
    private void requeue(Delivered d) {
        nack(d, true);
        metrics.job(d.request().model(), "requeued");
    }

    /** The results queue a job's bot named in {@code reply_to}; the default one if none or not a results queue. */
    private static String replyTo(JobRequest job, AMQP.BasicProperties props) {
        String q = props == null ? null : props.getReplyTo();
        if (q == null) {
            return Topology.RESULTS_QUEUE;
        }
        if (!Topology.isResultsQueue(q)) {
            LOG.warn("job {} names '{}' as its results queue, which is not one; sending to {}", job.jobId(), q,
                    Topology.RESULTS_QUEUE);
            return Topology.RESULTS_QUEUE;
        }
        return q;
    }

    /**
     * Publishes an outcome to {@code queue} and waits for the broker's confirm; false (the job goes back
     * to its queue) when unconfirmed or when no such queue exists (its bot deployment is gone).
     */
    private boolean publishConfirmed(Message m, String queue) {
        try {
            unroutable = false;
            resultChannel.basicPublish("", queue, true, persistent(), MessageCodec.encode(m));
            resultChannel.waitForConfirmsOrDie(CONFIRM_TIMEOUT_MS);
            if (unroutable) { // basic.return arrives before the confirm of the same message
                LOG.error("no queue {} for the outcome of a job; the job goes back to its queue", queue);
                metrics.failure("unconfirmed");
                return false;
            }
            return true;
        } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException e) {
            LOG.error("result not confirmed by the broker; the job goes back to the queue", e);
            metrics.failure("unconfirmed");
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static AMQP.BasicProperties persistent() {
        return MessageProperties.PERSISTENT_BASIC.builder().contentType(MessageCodec.CONTENT_TYPE).build();
    }

    private void ack(Delivered d) {
        try {
            consumeChannel.basicAck(d.tag(), false);
        } catch (IOException | RuntimeException e) {
            LOG.warn("ack of job {} failed (the broker will redeliver it): {}", d.request().jobId(), e.getMessage());
        }
    }

    /** requeue=true returns the job to the queue; false dead-letters it. */
    private void nack(Delivered d, boolean requeue) {
        try {
            consumeChannel.basicNack(d.tag(), false, requeue);
        } catch (IOException | RuntimeException e) {
            LOG.warn("nack of job {} failed (the broker will redeliver it): {}", d.request().jobId(), e.getMessage());
        }
    }

    /** On the progress sender's thread: best effort, progress may be dropped. */
    private void publishProgress(JobProgress p) {
        try {
            progressChannel.basicPublish(Topology.PROGRESS_EXCHANGE, p.jobId().toString(), null, MessageCodec.encode(p));
        } catch (IOException | RuntimeException e) {
            LOG.debug("progress not sent: {}", e.getMessage());
        }
    }

    /** Runs every second: a batch past the job timeout means the pipeline hangs (a stuck kernel, a deadlock). */
    private void watchdog() {
        if (!busy || hung || System.nanoTime() - busySinceNanos < config.jobTimeout().toNanos()) {
            return;
        }
        hung = true;
        metrics.failure("hung");
        LOG.error("batch running for more than {} s: the pipeline hangs; dropping the broker connection so its"
                + " jobs go to other workers, then stopping", config.jobTimeout().toSeconds());
        connection.abort(2_000);
        onHung.run();
    }

    private void publishHeartbeat(Channel ch) {
        if (hung) {
            return;
        }
        try {
            WorkerHeartbeat.State state = stopping ? WorkerHeartbeat.State.STOPPING
                    : busy ? WorkerHeartbeat.State.BUSY : WorkerHeartbeat.State.IDLE;
            List<String> resident = models.resident();
            WorkerHeartbeat hb = new WorkerHeartbeat(config.workerId(), host, models.device(),
                    models.names(), state, jobsInHand.get(), jobsDone.get(), stepsPerSecond, clock.instant(),
                    addons(loras), addons(embeddings), resident.stream().map(models::peek).anyMatch(g -> g != null && g.checksImages()),
                    models.modelInfo(),
                    resident, models.defaults());
            ch.basicPublish(Topology.HEARTBEATS_EXCHANGE, "", null, MessageCodec.encode(hb));
            if (config.healthFile() != null) {
                java.nio.file.Files.writeString(config.healthFile(), hb.sentAt().toString());
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("heartbeat not sent: {}", e.getMessage());
        }
    }

    /**
     * Publishes step counts (throttled) and previews of the running batch: each job has a preview due
     * every {@code preview_every} steps of its own (decided here only, {@link #previewDue}).
     */
    private final class Progress implements ImageGenerator.ProgressListener {
        private final Instant started;
        private final Map<UUID, Integer> previewEvery = new java.util.HashMap<>();

        Progress(Instant started, List<JobRequest> jobs) {
            this.started = started;
            jobs.forEach(j -> previewEvery.put(j.jobId(), j.previewEvery()));
        }

        private static boolean due(int every, int step, int totalSteps) {
            return every > 0 && step % every == 0 && step < totalSteps;
        }

        @Override
        public boolean previewDue(UUID jobId, int step, int totalSteps) {
            return due(previewEvery.getOrDefault(jobId, 0), step, totalSteps);
        }

        @Override
        public void onStep(UUID jobId, int step, int totalSteps, ImageGenerator.Preview preview) {
            long now = clock.millis();
            Long last = lastProgress.get(jobId);
            if (preview == null && last != null && now - last < PROGRESS_INTERVAL.toMillis()) {
                return;
            }
            lastProgress.put(jobId, now);
            long elapsed = now - started.toEpochMilli();
            long eta = step == 0 ? 0 : elapsed * (totalSteps - step) / step;
            Instant at = clock.instant();
            ImageGenerator.Preview shown = preview;
            progressSender.execute(() -> {
                byte[] png = shown == null ? null : Png.encodeRgb(shown.width(), shown.height(), shown.rgb(), Map.of());
                publishProgress(new JobProgress(jobId, config.workerId(), step, totalSteps, eta, png, at));
            });
        }
    }
}
