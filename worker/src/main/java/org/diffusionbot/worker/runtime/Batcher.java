package org.diffusionbot.worker.runtime;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.worker.engine.pipeline.BatchKey;

/**
 * Groups queued jobs into engine batches: jobs of one model with equal {@link BatchKey}s (the one rule
 * for what can run together: same size, steps, sampler, schedule, img2img strength, LoRA set and
 * prompt chunk count, so that a seed gives the same image whatever a job is batched with).
 */
public final class Batcher {
    private Batcher() {
    }

    /**
     * The key of a job whose prompts encode to {@code promptChunks} 75-token chunks ({@link
     * ImageGenerator#batchKey} for the engine's count).
     */
    public static BatchKey keyOf(JobRequest job, int promptChunks) {
        return BatchKey.of(DiffusionGenerator.toRequest(job), promptChunks);
    }

    /**
     * Takes the oldest job and every later job compatible with it, in order, while the batch holds at
     * most {@code capacity} images. The oldest job is always taken, even if it alone exceeds the
     * capacity, so nothing starves; jobs left behind keep their order. This is what makes LoRA sets
     * fair: jobs of another set wait only until the oldest job is theirs, never behind a stream of
     * later jobs of the set that runs now. Keys are those of one-chunk prompts ({@link #keyOf}).
     */
    public static <T> List<T> take(List<T> pending, Function<T, JobRequest> request, int capacity) {
        return take(pending, request, t -> keyOf(request.apply(t), 1), capacity);
    }

    /**
     * As {@link #take(List, Function, int)}: jobs of the oldest job's model whose key equals its key.
     *
     * @param key the job's key ({@link ImageGenerator#batchKey})
     */
    public static <T> List<T> take(List<T> pending, Function<T, JobRequest> request, Function<T, BatchKey> key,
            int capacity) {
        List<T> batch = new ArrayList<>();
        if (pending.isEmpty()) {
            return batch;
        }
        Iterator<T> it = pending.iterator();
        T first = it.next();
        it.remove();
        batch.add(first);
        JobRequest head = request.apply(first);
        BatchKey headKey = key.apply(first);
        int images = head.count();
        while (it.hasNext()) {
            T next = it.next();
            JobRequest r = request.apply(next);
            if (r.model().equals(head.model()) && images + r.count() <= capacity
                    && Objects.equals(headKey, key.apply(next))) {
                it.remove();
                batch.add(next);
                images += r.count();
            }
        }
        return batch;
    }
}
