package org.diffusionbot.db;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.diffusionbot.common.messages.InvalidMessageException;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.MessageCodec;

/**
 * The job outbox: queued jobs whose publication the broker has not confirmed ({@code published_at IS NULL}), and
 * the marks that take jobs out of it ({@code published_at}) and that keep an outcome from being shown twice
 * ({@code delivered_at}).
 */
public final class OutboxStore {
    private final Jdbc jdbc;
    private final Clock clock;

    /** A job waiting in the outbox. */
    public record Unpublished(JobRequest request, Instant createdAt) {
    }

    public OutboxStore(DataSource ds, Clock clock) {
        this.jdbc = new Jdbc(ds);
        this.clock = clock;
    }

    /**
     * Queued jobs the broker has not confirmed, at least {@code minAge} old (younger ones may still be waiting for
     * their first confirm), oldest first.
     */
    public List<Unpublished> unpublished(Duration minAge, int limit) {
        return jdbc.list("""
                SELECT request::text, created_at FROM jobs
                 WHERE state = 'queued' AND published_at IS NULL AND created_at <= ?
                 ORDER BY created_at LIMIT ?""", rs -> {
                    try {
                        return new Unpublished(MessageCodec.decode(rs.getString(1).getBytes(StandardCharsets.UTF_8),
                                JobRequest.class), rs.getTimestamp(2).toInstant());
                    } catch (InvalidMessageException e) {
                        throw new IllegalStateException("stored job request is unreadable: " + e.getMessage(), e);
                    }
                }, clock.instant().minus(minAge), limit);
    }

    /** The broker confirmed these jobs: they leave the outbox. One statement for all. */
    public void markPublished(Collection<UUID> jobIds) {
        markNow("published_at", jobIds);
    }

    /** The users have been shown these jobs' outcomes; redelivered results will not be shown again. */
    public void markDelivered(Collection<UUID> jobIds) {
        markNow("delivered_at", jobIds);
    }

    /** Sets {@code column} (a constant of this class, never input) to now where it is not set yet. */
    private void markNow(String column, Collection<UUID> jobIds) {
        jdbc.update("UPDATE jobs SET " + column + " = now() WHERE id = ANY (?) AND " + column + " IS NULL",
                Jdbc.array("uuid", jobIds));
    }
}
