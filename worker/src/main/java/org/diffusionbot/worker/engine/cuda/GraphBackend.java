package org.diffusionbot.worker.engine.cuda;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import java.util.function.Supplier;

/**
 * The device calls a {@link CudaGraphRunner} makes: {@link #NATIVE} (our library's CUDA graph functions in {@link
 * NativeOps}) in the worker; tests give a fake that records them and emulates a replay on the CPU.
 *
 * <p>A graph is a handle ({@code long}, never 0) from {@link #create} until {@link #destroy}.
 */
public interface GraphBackend {
    /** The library's CUDA graphs ({@code NativeOps.graph*}): used on a CUDA device with the library loaded. */
    GraphBackend NATIVE = new Native();

    /** Whether graphs can be used on {@code device} at all (fixed for the process). */
    boolean usable(Device device);

    /** Whether graphs may be used now ({@link NativeOps#enabled()}: the bench turns the library off and on). */
    boolean active();

    /**
     * A new, empty graph with a side stream for its warm-up and capture.
     *
     * @param sharePoolWith a captured, live graph whose memory pool (and side stream: the allocator reuses a freed
     *     block only on the stream it was allocated on) the new graph's capture uses, or 0 for a pool and stream of
     *     its own
     */
    long create(long sharePoolWith);

    /** Waits for the device and makes the graph's side stream this thread's current stream (warm-up, capture). */
    void enter(long graph);

    /** Waits for the side stream and makes the stream that was current before {@link #enter} current again. */
    void exit(long graph);

    /**
     * Captures what {@code body} queues on the current stream (the graph's, after {@link #enter}) into the graph:
     * its allocations come from the graph's memory pool.
     *
     * @return what {@code body} returned: the graph's static outputs
     * @throws RuntimeException when the capture fails (an operation that cannot be captured, e.g. a host sync)
     */
    NDArray[] capture(long graph, Supplier<NDArray[]> body);

    /** Queues the captured work on this thread's current stream. */
    void replay(long graph);

    /** Waits for the device and frees the graph (its memory pool when no other graph shares it). */
    void destroy(long graph);

    /** Copies {@code src} into {@code dst} (same shape; queued on the current stream). */
    void copy(NDArray dst, NDArray src);

    /** Waits for the device. */
    void sync();

    /** Returns the allocator's cached, unused blocks to the driver ({@link NativeOps#releaseCache()}). */
    void releaseCache();

    /** {@link GraphBackend#NATIVE}. */
    final class Native implements GraphBackend {
        private Native() {
        }

        @Override
        public boolean usable(Device device) {
            return device.isGpu() && NativeOps.available();
        }

        @Override
        public boolean active() {
            return NativeOps.enabled();
        }

        @Override
        public long create(long sharePoolWith) {
            return NativeOps.graphCreate(sharePoolWith);
        }

        @Override
        public void enter(long graph) {
            NativeOps.graphEnter(graph);
        }

        @Override
        public void exit(long graph) {
            NativeOps.graphExit(graph);
        }

        @Override
        public NDArray[] capture(long graph, Supplier<NDArray[]> body) {
            NativeOps.graphCaptureBegin(graph);
            try {
                return body.get();
            } finally {
                NativeOps.graphCaptureEnd(graph);
            }
        }

        @Override
        public void replay(long graph) {
            NativeOps.graphReplay(graph);
        }

        @Override
        public void destroy(long graph) {
            NativeOps.graphDestroy(graph);
        }

        @Override
        public void copy(NDArray dst, NDArray src) {
            NativeOps.copyInto(NativeOps.h(dst), NativeOps.h(src));
        }

        @Override
        public void sync() {
            NativeOps.sync();
        }

        @Override
        public void releaseCache() {
            NativeOps.releaseCache();
        }
    }
}
