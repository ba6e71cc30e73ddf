package org.diffusionbot.worker.engine.cuda;

import java.nio.file.Path;

/**
 * PyTorch's Kineto profiler, driven from Java through the native library ({@code profiler.cc} in
 * {@code libsd_native_ops.so}): what Python's {@code torch.profiler.profile(activities=[CPU, CUDA],
 * record_shapes=True)} records (ATen ops with their input shapes, our ops, CUDA kernels, copies and
 * runtime calls) for the calling thread, saved as a Chrome trace. Kernels replayed inside a CUDA graph are
 * not attributed to ops: profile eager calls. {@code scripts/gpu/profile_table.py} turns a trace into the
 * per-class table of docs/GPU.md.
 *
 * <p>Start, the work (on the same thread), stop. One profile at a time per process.
 */
public final class KernelProfiler {
    private KernelProfiler() {
    }

    /**
     * Starts recording on this thread.
     *
     * @throws IllegalStateException without the native library ({@link NativeOps#unavailableReason()}), or
     *     when libtorch cannot start the profiler (e.g. one is already running)
     */
    public static void start() {
        if (!NativeOps.available()) {
            throw new IllegalStateException("the kernel profiler needs the native library: "
                    + NativeOps.unavailableReason());
        }
        begin();
    }

    /**
     * Stops recording and writes the Chrome trace (JSON; ranges left open are closed first).
     *
     * @param chromeTrace the file to write
     * @throws IllegalStateException when no profile runs on this thread or the file cannot be written
     */
    public static void stop(Path chromeTrace) {
        end(chromeTrace.toAbsolutePath().toString());
    }

    /** An open range of {@link #range(String)}; closing it ends the range. */
    public interface Range extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Marks a range of work in the trace (a user annotation, like {@code torch.profiler.record_function}) until
     * the returned handle is closed, on the same thread; ranges nest. Outside a profile it costs next to
     * nothing; without the native library it does nothing.
     */
    public static Range range(String name) {
        if (!NativeOps.available()) {
            return () -> { };
        }
        push(name);
        return KernelProfiler::pop;
    }

    private static native void begin();

    private static native void end(String path);

    private static native void push(String name);

    private static native void pop();
}
