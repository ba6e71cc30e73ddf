package org.diffusionbot.bot.jobs;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.LongString;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.diffusionbot.common.image.GenerationParameters;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.common.messages.InvalidMessageException;
import org.diffusionbot.common.messages.JobFailure;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.JobResult;
import org.diffusionbot.common.messages.Message;
import org.diffusionbot.common.messages.MessageCodec;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.db.DatabaseUnavailableException;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.JobStore;
import org.diffusionbot.db.StoredImage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumes results, failures and dead letters: records the outcome (idempotently), shows it to the
 * user, and only then acks. A redelivered message finds the job already ended and already shown,
 * and does nothing; one whose job ended but was never shown (the bot stopped in between) is shown now.
 */
public final class OutcomeConsumer {
    private static final Logger LOG = LoggerFactory.getLogger(OutcomeConsumer.class);
    static final String DEAD_LETTER_MESSAGE = "this job failed on every worker that tried it";

    private final JobStore store;
    private final OutcomeDisplay display;
    private final java.util.concurrent.Executor executor;
    private final org.diffusionbot.bot.metrics.BotMetrics metrics;
    private final RunHistory history;
    private Channel channel;

    /**
     * {@code executor} handles deliveries in parallel (each is acked on its own when done); {@code history} learns
     * each succeeded job's run time.
     */
    public OutcomeConsumer(JobStore store, OutcomeDisplay display, java.util.concurrent.Executor executor,
            org.diffusionbot.bot.metrics.BotMetrics metrics, RunHistory history) {
        this.metrics = metrics;
        this.history = history;
        this.store = store;
        this.display = display;
        this.executor = executor;
    }

    /** Consumes {@code resultsQueue} and the dead letters of the jobs that name it (see {@link Topology}). */
    public void start(Connection connection, String resultsQueue) throws IOException {
        channel = connection.createChannel();
        Topology.declareShared(channel);
        Topology.declareResults(channel, resultsQueue);
        channel.basicQos(32);
        channel.basicConsume(resultsQueue, false, consumer(false));
        channel.basicConsume(Topology.deadQueueFor(resultsQueue), false, consumer(true));
    }

    private DefaultConsumer consumer(boolean deadLetters) {
        return new DefaultConsumer(channel) {
            @Override
            public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) {
                Message decoded = deadLetters ? null : stopProgress(body);
                executor.execute(() -> handle(env.getDeliveryTag(), props, body, decoded, deadLetters));
            }
        };
    }

    /** {@code decoded}: the body already decoded, or null. */
    private void handle(long delivery, AMQP.BasicProperties props, byte[] body, Message decoded, boolean deadLetters) {
        CompletableFuture<Void> done;
        try {
            done = deadLetters ? onDeadLetter(body, props) : onOutcome(decoded != null ? decoded : MessageCodec.decode(body));
        } catch (DatabaseUnavailableException e) {
            LOG.error("database unavailable; outcome returned to the queue: {}", e.getMessage());
            pause();
            settle(delivery, false, true);
            return;
        } catch (InvalidMessageException e) {
            // a malformed result is dead-lettered for inspection; an unreadable dead letter is dropped
            LOG.warn("{} message dropped: {}", deadLetters ? "unreadable dead-lettered" : "malformed result",
                    e.getMessage());
            settle(delivery, deadLetters, false);
            return;
        } catch (RuntimeException e) {
            LOG.error("handling an outcome failed; returned to the queue", e);
            pause();
            settle(delivery, false, true);
            return;
        }
        done.whenComplete((ok, err) -> {
            if (err != null) {
                LOG.warn("showing an outcome failed, will retry: {}", err.getMessage());
                pause();
            }
            settle(delivery, err == null, true);
        });
    }

    /**
     * A job's outcome arrived: no more progress edits for it from now on, while the outcome waits for the
     * executor and the database (a progress edit then would only be overwritten by the outcome at once).
     */
    private Message stopProgress(byte[] body) {
        try {
            Message m = MessageCodec.decode(body);
            if (m instanceof JobResult r) {
                display.ending(r.jobId());
            } else if (m instanceof JobFailure f) {
                display.ending(f.jobId());
            }
            return m;
        } catch (InvalidMessageException | RuntimeException e) {
            return null; // decoded again, and dead-lettered, with the delivery
        }
    }

    /** Acks, or nacks with or without requeue; a nack without requeue on the results queue dead-letters. */
    private synchronized void settle(long tag, boolean ack, boolean requeue) {
        try {
            if (ack) {
                channel.basicAck(tag, false);
            } else {
                channel.basicNack(tag, false, requeue);
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("settling a delivery failed (the broker will redeliver it): {}", e.getMessage());
        }
    }

    CompletableFuture<Void> onOutcome(Message m) throws InvalidMessageException {
        if (m instanceof JobResult r) {
            List<StoredImage> images = new ArrayList<>();
            for (JobResult.Image im : r.images()) {
                JobResult.Safety verdict = r.safetyOf(im.index());
                StoredImage s = stored(im);
                images.add(verdict == null ? s : s.checked(verdict.nsfw(), (float) verdict.score()));
            }
            java.util.Optional<JobStore.Completed> ended = store.completeAndGet(r.jobId(), r.workerId(), images);
            ended.ifPresent(c -> {
                metrics.finished("succeeded");
                metrics.timings(c.job().model(), java.time.Duration.ofMillis(r.timings().queuedMillis()),
                        java.time.Duration.ofMillis(r.timings().generateMillis()));
                history.ran(c.job().model(), java.time.Duration.ofMillis(r.timings().generateMillis()));
            });
            // ended before: shown (unless it was) with the images as stored, flagged ones as the store decided
            return ended.isPresent() ? display.show(ended.get().job(), r.notes(), null, ended.get().images())
                    : display.show(r.jobId(), r.notes(), null, null);
        } else if (m instanceof JobFailure f) {
            JobState state = f.code() == JobFailure.Code.CANCELLED ? JobState.CANCELLED : JobState.FAILED;
            if (store.fail(f.jobId(), state, f.workerId(), f.message())) {
                metrics.finished(state.name().toLowerCase(java.util.Locale.ROOT));
            }
            return display.show(f.jobId(), List.of(), f.message(), null);
        }
        throw new InvalidMessageException("unexpected " + m.getClass().getSimpleName() + " on the results queue");
    }

    /**
     * A job the broker gave up on: rejected by a worker (which reported the failure itself) or
     * redelivered past the delivery limit (nobody reported anything: fail, refund and tell the user).
     */
    CompletableFuture<Void> onDeadLetter(byte[] body, AMQP.BasicProperties props) throws InvalidMessageException {
        Message m = MessageCodec.decode(body);
        if (!(m instanceof JobRequest job)) {
            LOG.warn("dead-lettered {} dropped", m.getClass().getSimpleName());
            return CompletableFuture.completedFuture(null);
        }
        String reason = deathReason(props);
        if ("rejected".equals(reason)) {
            return CompletableFuture.completedFuture(null);
        }
        LOG.warn("job {} dead-lettered ({})", job.jobId(), reason);
        if (store.fail(job.jobId(), JobState.FAILED, "broker", DEAD_LETTER_MESSAGE)) {
            metrics.finished("failed");
        }
        return display.show(job.jobId(), List.of(), DEAD_LETTER_MESSAGE, null);
    }

    static String deathReason(AMQP.BasicProperties props) {
        Map<String, Object> headers = props == null ? null : props.getHeaders();
        Object deaths = headers == null ? null : headers.get("x-death");
        if (deaths instanceof List<?> list && !list.isEmpty() && list.get(0) instanceof Map<?, ?> first) {
            Object reason = first.get("reason");
            return reason instanceof LongString ls ? ls.toString() : String.valueOf(reason);
        }
        Object first = headers == null ? null : headers.get("x-first-death-reason");
        return first == null ? "unknown" : first.toString();
    }

    private static StoredImage stored(JobResult.Image im) throws InvalidMessageException {
        try {
            String params = Png.readText(im.png()).getOrDefault(GenerationParameters.PNG_KEYWORD, "");
            return new StoredImage(im.index(), im.seed(), im.width(), im.height(), im.png(), Thumbnails.of(im.png()),
                    params);
        } catch (IOException e) {
            throw new InvalidMessageException("result image " + im.index() + " is not a readable PNG: " + e.getMessage());
        }
    }

    private static void pause() {
        try {
            Thread.sleep(500);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
