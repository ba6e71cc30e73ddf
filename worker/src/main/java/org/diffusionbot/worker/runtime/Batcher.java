package org.diffusionbot.worker.runtime;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.ToIntFunction;
import org.diffusionbot.common.LoraTags;
import org.diffusionbot.common.messages.JobRequest;

/**
 * Groups queued jobs into engine batches. Jobs are compatible when they can share one UNet batch:
 * same model, size, steps, sampler and schedule, the same img2img strength (or both txt2img) and
 * the same LoRA set ({@link LoraTags#set}: names and summed weights; the model is patched once per
 * batch). Prompts,
 * negative prompts, seeds, guidance and clip skip may differ, but only prompts that encode to the
 * same number of 75-token chunks ({@link ImageGenerator#promptChunks}) go together: a batch pads every
 * prompt to its longest, which would change a short prompt's image, and the same seed must give the
 * same image whatever a job was batched with.
 */
public final class Batcher {
    private Batcher() {
    }

    public static boolean compatible(JobRequest a, JobRequest b) {
        return a.model().equals(b.model()) && a.width() == b.width() && a.height() == b.height()
                && a.steps() == b.steps() && a.sampler() == b.sampler()
                && a.scheduleOrDefault() == b.scheduleOrDefault() && Objects.equals(a.strength(), b.strength())
                && loraSet(a).equals(loraSet(b));
    }

    /**
     * The LoRA set a job runs with ({@link LoraTags#set} of its prompt and negative prompt); a job
     * whose tags do not parse is a set of its own (it fails alone, with the reason).
     */
    static Object loraSet(JobRequest r) {
        try {
            return LoraTags.set(r.prompt(), r.negativePrompt());
        } catch (IllegalArgumentException e) {
            return r.jobId();
        }
    }

    /**
     * Takes the oldest job and every later job compatible with it, in order, while the batch holds at
     * most {@code capacity} images. The oldest job is always taken, even if it alone exceeds the
     * capacity, so nothing starves; jobs left behind keep their order. This is what makes LoRA sets
     * fair: jobs of another set wait only until the oldest job is theirs, never behind a stream of
     * later jobs of the set that runs now.
     */
    public static <T> List<T> take(List<T> pending, Function<T, JobRequest> request, int capacity) {
        return take(pending, request, t -> 1, capacity);
    }

    /**
     * As {@link #take(List, Function, int)}, batching only jobs with the same prompt chunk count.
     *
     * @param chunks the job's prompt chunk count ({@link ImageGenerator#promptChunks})
     */
    public static <T> List<T> take(List<T> pending, Function<T, JobRequest> request, ToIntFunction<T> chunks,
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
        int headChunks = chunks.applyAsInt(first);
        int images = head.count();
        while (it.hasNext()) {
            T next = it.next();
            JobRequest r = request.apply(next);
            if (compatible(head, r) && chunks.applyAsInt(next) == headChunks && images + r.count() <= capacity) {
                it.remove();
                batch.add(next);
                images += r.count();
            }
        }
        return batch;
    }
}
