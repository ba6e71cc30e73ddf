package org.diffusionbot.worker.engine.cuda;

import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;

/**
 * One CUDA graph memory pool, shared by every graph that the {@link CudaGraphRunner}s made with it capture (a
 * pipeline's UNet and VAE decoder graphs: one pool per pipeline), and the device calls they make ({@link
 * GraphBackend}).
 *
 * <p>How sharing works (PyTorch's {@code CUDAGraph} with a shared {@code MempoolId_t}, {@code graphCreate(share)} in
 * {@code sd_native_ops.cc}): a capture allocates from the pool; what the captured work frees by its end (its
 * activations) goes back to the pool as free blocks, where a later capture of any graph of the pool may allocate
 * them again (every graph of a pool captures on the same side stream: the allocator reuses a block only on the stream
 * it was allocated on), while its static outputs stay allocated until the graph is destroyed. So the pool holds about the
 * largest capture's working memory plus every live graph's outputs, not the sum of all captures; it is released
 * when the last graph that uses it is destroyed. The price, PyTorch's rule for shared pools:
 *
 * <ul>
 *   <li>graphs of one pool never run concurrently: every replay is queued on the calling thread's current stream,
 *       one runner call at a time (the pipeline is not thread-safe and runs one batch at a time), and capture waits
 *       for the device before and after ({@link GraphBackend#enter}, {@link GraphBackend#exit});
 *   <li>a graph's outputs (the views a runner returns) may lie in blocks that another graph of the pool uses for its
 *       activations, so the next replay of <em>any</em> graph of the pool may overwrite them: a caller queues
 *       everything that reads them (or a copy) before it calls a runner of the pool again. Stream order then makes
 *       the reads happen first. The UNet's output is cast to float32 (or combined by guidance) right after its call,
 *       before a preview decode; the VAE decoder's bytes are copied out before the next chunk's decode and read on
 *       the host before anything else runs ({@code LatentDecoder}).
 * </ul>
 *
 * <p>Not thread-safe, as the runners.
 */
public final class GraphPool {
    private final GraphBackend backend;
    /** The pool's live, captured graphs, oldest first. */
    private final Set<Long> live = new LinkedHashSet<>();

    /** A pool of the library's CUDA graphs ({@link GraphBackend#NATIVE}). */
    public GraphPool() {
        this(GraphBackend.NATIVE);
    }

    /** @param backend the device calls (tests: a fake) */
    public GraphPool(GraphBackend backend) {
        this.backend = Objects.requireNonNull(backend);
    }

    /** @return the device calls of this pool's graphs */
    public GraphBackend backend() {
        return backend;
    }

    /**
     * @return a live, captured graph of the pool, for the next {@link GraphBackend#create}; 0 when there is none (the
     *     next capture starts a new pool: the old one went with its last graph)
     */
    long shareWith() {
        return live.isEmpty() ? 0L : live.iterator().next();
    }

    /** Records a graph whose capture succeeded. */
    void added(long graph) {
        live.add(graph);
    }

    /** Records a graph about to be destroyed (it must no longer be shared). */
    void removed(long graph) {
        live.remove(graph);
    }

    /** @return the number of live graphs of the pool, all runners together */
    public int graphCount() {
        return live.size();
    }
}
