package org.diffusionbot.worker.runtime;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import org.diffusionbot.common.messages.JobRequest;

/**
 * Groups queued jobs into engine batches. Jobs are compatible when they can share one UNet batch:
 * same model, size, steps, sampler, and the same img2img strength (or both txt2img). Prompts,
 * negative prompts, seeds, guidance and clip skip may differ.
 */
public final class Batcher {
    private Batcher() {
    }

    public static boolean compatible(JobRequest a, JobRequest b) {
        return a.model().equals(b.model()) && a.width() == b.width() && a.height() == b.height()
                && a.steps() == b.steps() && a.sampler() == b.sampler()
                && Objects.equals(a.strength(), b.strength());
    }

    /**
     * Takes the oldest job and every later job compatible with it, in order, while the batch holds at
     * most {@code capacity} images. The oldest job is always taken, even if it alone exceeds the
     * capacity, so nothing starves; jobs left behind keep their order.
     */
    public static <T> List<T> take(List<T> pending, java.util.function.Function<T, JobRequest> request, int capacity) {
        List<T> batch = new ArrayList<>();
        if (pending.isEmpty()) {
            return batch;
        }
        Iterator<T> it = pending.iterator();
        T first = it.next();
        it.remove();
        batch.add(first);
        JobRequest head = request.apply(first);
        int images = head.count();
        while (it.hasNext()) {
            T next = it.next();
            JobRequest r = request.apply(next);
            if (compatible(head, r) && images + r.count() <= capacity) {
                it.remove();
                batch.add(next);
                images += r.count();
            }
        }
        return batch;
    }
}
