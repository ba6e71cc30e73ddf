package org.diffusionbot.bot.jobs;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.diffusionbot.db.JobStore;

/**
 * The job store's marks (published to the broker, shown to the user), coalesced: a mark joins the next
 * UPDATE, which runs on a thread of its own as soon as the previous one is done. An idle bot writes at
 * once; under load many jobs share one statement and one commit. A mark's future completes once it is
 * committed (or fails with the statement).
 */
public final class StoreMarks implements AutoCloseable {
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "store-marks");
        t.setDaemon(true);
        return t;
    });
    private final Batch published;
    private final Batch delivered;

    public StoreMarks(JobStore store) {
        published = new Batch(store::markPublished);
        delivered = new Batch(store::markDelivered);
    }

    /** The broker confirmed the job: it leaves the outbox. */
    public CompletableFuture<Void> published(UUID jobId) {
        return published.add(jobId);
    }

    /** The user has been shown the job's outcome. */
    public CompletableFuture<Void> delivered(UUID jobId) {
        return delivered.add(jobId);
    }

    /** Writes the marks already asked for, then stops. */
    @Override
    public void close() throws InterruptedException {
        thread.shutdown();
        thread.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS);
    }

    private final class Batch {
        private record Pending(UUID jobId, CompletableFuture<Void> done) {
        }

        private final Consumer<Collection<UUID>> write;
        private final ConcurrentLinkedQueue<Pending> queue = new ConcurrentLinkedQueue<>();
        private final AtomicBoolean scheduled = new AtomicBoolean();

        Batch(Consumer<Collection<UUID>> write) {
            this.write = write;
        }

        CompletableFuture<Void> add(UUID jobId) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            queue.add(new Pending(jobId, done));
            schedule();
            return done;
        }

        private void schedule() {
            if (scheduled.compareAndSet(false, true)) {
                try {
                    thread.execute(this::drain);
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    scheduled.set(false);
                    drain(); // closing: write on the caller's thread
                }
            }
        }

        private void drain() {
            try {
                List<Pending> batch = new ArrayList<>();
                for (Pending p; batch.size() < 1_000 && (p = queue.poll()) != null; ) {
                    batch.add(p);
                }
                if (!batch.isEmpty()) {
                    try {
                        write.accept(batch.stream().map(Pending::jobId).toList());
                        batch.forEach(p -> p.done().complete(null));
                    } catch (RuntimeException e) {
                        batch.forEach(p -> p.done().completeExceptionally(e));
                    }
                }
            } finally {
                scheduled.set(false);
            }
            if (!queue.isEmpty()) {
                schedule();
            }
        }
    }
}
