package org.diffusionbot.worker.engine.cuda;

import ai.djl.ndarray.NDArray;

/**
 * A point in the GPU's queue that the host can wait for: a CUDA event recorded on the current stream (native
 * library, {@code NativeOps.fenceRecord}). Nothing in the step loop makes the host wait for the GPU any more
 * ({@code Scalars}), so without a bound the host would queue every step of a job at once, report progress and
 * check for cancellation ahead of the GPU; the loop waits for the fence of step k−2 before it queues step k: the
 * GPU always has the next step queued, progress is at most one step ahead of it, and a cancellation stops it
 * within a step. Not thread-safe; release or close each fence once.
 */
public final class StepFence implements AutoCloseable {
    private long handle;

    private StepFence(long handle) {
        this.handle = handle;
    }

    /**
     * A fence after the work queued so far on the current stream, or null where there is nothing to wait for
     * ({@code x} not on a GPU, or no native library with fences: the work then runs as it is queued).
     *
     * @param x an array of the loop (decides the device)
     * @throws IllegalStateException from the library (a CUDA error)
     */
    public static StepFence after(NDArray x) {
        if (!x.getDevice().isGpu() || !NativeOps.fences()) {
            return null;
        }
        return new StepFence(NativeOps.fenceRecord());
    }

    /**
     * Waits until the GPU has done the work queued before this fence, then frees it; later calls return at once.
     *
     * @throws IllegalStateException from the library (a CUDA error)
     */
    public void await() {
        release(true);
    }

    /** Frees the fence without waiting. */
    @Override
    public void close() {
        release(false);
    }

    private void release(boolean wait) {
        if (handle != 0) {
            long h = handle;
            handle = 0;
            NativeOps.fenceRelease(h, wait);
        }
    }
}
