package org.diffusionbot.worker.engine.cuda;

import ai.djl.ndarray.NDArray;

/**
 * A device-to-host copy that does not wait: {@link #start} queues a float32 copy of a CUDA tensor into pinned host
 * memory on the current stream, with a CUDA event after it (native library, {@code NativeOps.hostCopyStart});
 * {@link #floats} waits for that event only, so work queued after the copy keeps the GPU busy meanwhile. The
 * step loop copies a step's x0 estimates this way and reads them after the next step is queued (previews,
 * docs/GPU.md). Not thread-safe; close it (also safe while the copy is in flight).
 */
public final class HostCopy implements AutoCloseable {
    private long handle;
    private float[] values;

    private HostCopy(long handle) {
        this.handle = handle;
    }

    /** Whether {@link #start} can copy {@code x}: a CUDA tensor, the native library in use with the host-copy functions. */
    public static boolean supported(NDArray x) {
        return x.getDevice().isGpu() && NativeOps.hostCopies();
    }

    /**
     * Queues the copy of {@code x} (float16 or float32, any layout; {@link #supported}) on the current CUDA stream.
     *
     * @throws IllegalStateException from the library (not a CUDA tensor, a CUDA error)
     */
    public static HostCopy start(NDArray x) {
        return new HostCopy(NativeOps.hostCopyStart(NativeOps.h(x)));
    }

    /**
     * The values, float32, row-major (as {@code x.toFloatArray()} of a row-major float32 {@code x}): the first call
     * waits for the copy and frees its host memory, later calls return the same array.
     *
     * @throws IllegalStateException after {@link #close} without a read before, or from the library (a CUDA error)
     */
    public float[] floats() {
        if (values == null) {
            if (handle == 0) {
                throw new IllegalStateException("host copy closed before it was read");
            }
            values = NativeOps.hostCopyRead(handle);
            close();
        }
        return values;
    }

    @Override
    public void close() {
        if (handle != 0) {
            long h = handle;
            handle = 0;
            NativeOps.hostCopyFree(h);
        }
    }
}
