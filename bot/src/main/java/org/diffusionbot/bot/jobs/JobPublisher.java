package org.diffusionbot.bot.jobs;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.MessageProperties;
import java.io.IOException;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.Message;
import org.diffusionbot.common.messages.MessageCodec;
import org.diffusionbot.common.mq.Topology;

/**
 * Publishes jobs with publisher confirms and the {@code mandatory} flag, asynchronously: each
 * publish returns a future completed when the broker confirmed (or refused) it. A job for a model
 * that no worker has declared a queue for comes back as {@link Outcome#UNROUTABLE}.
 */
public final class JobPublisher implements AutoCloseable {
    /** What became of a publish. */
    public enum Outcome { CONFIRMED, UNROUTABLE, REFUSED }

    private final Channel channel;
    private final String resultsQueue;
    private final ConcurrentNavigableMap<Long, Pending> outstanding = new ConcurrentSkipListMap<>();
    private final Set<String> returned = ConcurrentHashMap.newKeySet();

    private record Pending(String messageId, CompletableFuture<Outcome> future) {
    }

    /** @param resultsQueue where workers send the outcomes of this bot's jobs (the jobs' {@code reply_to}) */
    public JobPublisher(Connection connection, String resultsQueue) throws IOException {
        this.resultsQueue = Topology.checkResultsQueue(resultsQueue);
        channel = connection.createChannel();
        channel.confirmSelect();
        // basic.return arrives before the basic.ack of the same message
        channel.addReturnListener(r -> returned.add(r.getProperties().getMessageId()));
        channel.addConfirmListener((tag, multiple) -> settle(tag, multiple, true),
                (tag, multiple) -> settle(tag, multiple, false));
        channel.addShutdownListener(cause -> failAll(new IOException("channel closed: " + cause.getMessage())));
    }

    public CompletableFuture<Outcome> publish(JobRequest job) {
        return publish(Topology.JOBS_EXCHANGE, job.model(), job.jobId().toString(), job, true);
    }

    /** Publishes a broadcast to every worker (cancel); confirmed like a job. */
    public CompletableFuture<Outcome> broadcast(Message message, String messageId) {
        return publish(Topology.CONTROL_EXCHANGE, "", messageId, message, false);
    }

    private CompletableFuture<Outcome> publish(String exchange, String key, String id, Message m, boolean mandatory) {
        CompletableFuture<Outcome> f = new CompletableFuture<>();
        AMQP.BasicProperties props = MessageProperties.PERSISTENT_BASIC.builder()
                .contentType(MessageCodec.CONTENT_TYPE).messageId(id)
                .replyTo(resultsQueue).headers(Map.of(Topology.RESULTS_HEADER, resultsQueue)).build();
        byte[] body = MessageCodec.encode(m);
        synchronized (channel) {
            long seq = channel.getNextPublishSeqNo();
            outstanding.put(seq, new Pending(id, f));
            try {
                channel.basicPublish(exchange, key, mandatory, props, body);
            } catch (IOException | RuntimeException e) {
                outstanding.remove(seq);
                f.completeExceptionally(e);
            }
        }
        return f;
    }

    private void settle(long tag, boolean multiple, boolean ack) {
        Map<Long, Pending> done = multiple ? outstanding.headMap(tag, true) : subMap(tag);
        for (Pending p : done.values()) {
            boolean wasReturned = returned.remove(p.messageId());
            p.future().complete(!ack ? Outcome.REFUSED : wasReturned ? Outcome.UNROUTABLE : Outcome.CONFIRMED);
        }
        done.clear();
    }

    private Map<Long, Pending> subMap(long tag) {
        return outstanding.subMap(tag, true, tag, true);
    }

    private void failAll(Exception e) {
        outstanding.values().forEach(p -> p.future().completeExceptionally(e));
        outstanding.clear();
    }

    @Override
    public void close() throws IOException {
        try {
            if (channel.isOpen()) {
                channel.close();
            }
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IOException(e);
        }
    }
}
