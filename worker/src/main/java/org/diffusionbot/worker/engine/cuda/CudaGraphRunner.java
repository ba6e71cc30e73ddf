package org.diffusionbot.worker.engine.cuda;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a forward function through CUDA graphs, one per input signature (the shapes and types of its inputs): the
 * first call of a signature runs the function once eagerly on the graph's side stream (warm-up: kernels chosen,
 * library workspaces allocated), then captures one eager call into a graph whose static inputs are copies of that
 * call's inputs; every call of that signature, the first included, copies its inputs into the static ones (an
 * unchanging input, such as the UNet's conditioning, only when it is another array than the one this graph copied
 * last: {@link #needsCopy}) and replays the graph (one launch instead of a JNI call and a kernel launch per
 * operation). At most {@code maxGraphs}
 * signatures keep a graph (least recently used evicted and destroyed), so memory does not grow with the number of
 * shapes seen. The graphs capture into a {@link GraphPool} shared with other runners (read its rules).
 *
 * <p>Graphs are used only where {@link GraphBackend#usable} (a CUDA device with the native library) and wanted;
 * otherwise every call is the eager function. A capture that fails turns graphs off for this runner (its graphs
 * destroyed, a warning logged) and the call, and every later one, runs eagerly.
 *
 * <p>Used by {@link CudaGraphUNet} (the UNet's noise prediction) and the pipeline's VAE decode ({@code
 * VaeDecode}: latents to 8-bit RGB). Not thread-safe: one caller at a time.
 */
public final class CudaGraphRunner implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CudaGraphRunner.class);

    /**
     * The eager computation a runner captures. It must queue device work only (no host reads of device values: a
     * capture fails on them), take every varying value from {@code inputs}, and free what it does not return (its
     * frees are what lets other captures of the pool reuse the memory).
     */
    @FunctionalInterface
    public interface Forward {
        /**
         * @param owner owner of the results (during capture: the graph's, so the results are its static outputs)
         * @param inputs the call's inputs in a fixed order, entries may be null (absent for this signature)
         * @return the outputs, owned by {@code owner}
         */
        NDArray[] apply(NDManager owner, NDArray[] inputs);
    }

    private final String name;
    private final Device device;
    private final int maxGraphs;
    private final GraphPool pool;
    private final GraphBackend backend;
    private final Forward forward;
    /** Which inputs are unchanging arrays (see the constructor): copied into a graph only when another array comes. */
    private final boolean[] unchanging;
    private boolean enabled;
    /** Captured graphs by signature, least recently used first. */
    private final LinkedHashMap<String, Captured> graphs = new LinkedHashMap<>(8, 0.75f, true);

    /** A graph with its static inputs and outputs, all owned by {@code manager}. */
    private final class Captured implements AutoCloseable {
        final NDManager manager;
        final long graph;
        final NDArray[] inputs;
        /**
         * For each unchanging input, the caller's array last copied into {@link #inputs} (compared by identity only,
         * never read; the reference keeps the Java object, so no later array can be taken for it), else null.
         */
        final NDArray[] copiedFrom;
        NDArray[] outputs;
        boolean live;

        Captured(NDManager manager, long graph, NDArray[] inputs) {
            this.manager = manager;
            this.graph = graph;
            this.inputs = inputs;
            this.copiedFrom = new NDArray[inputs.length];
        }

        @Override
        public void close() {
            if (live) {
                pool.removed(graph);
            }
            backend.destroy(graph);
            manager.close();
        }
    }

    /**
     * @param name what the function is, for logs ("the UNet")
     * @param device where it runs (graphs only where {@link GraphBackend#usable})
     * @param wanted whether graphs are wanted (the pipeline's options: {@code SD_CUDA_GRAPHS}, {@code
     *     SD_VAE_GRAPHS}, read by the caller)
     * @param maxGraphs how many input signatures keep a graph, at least 1
     * @param pool the memory pool the graphs share (with the device calls they make)
     * @param forward the eager computation
     * @throws IllegalArgumentException for {@code maxGraphs} below 1
     */
    public CudaGraphRunner(String name, Device device, boolean wanted, int maxGraphs, GraphPool pool, Forward forward) {
        this(name, device, wanted, maxGraphs, pool, forward, new boolean[0]);
    }

    /**
     * A runner some of whose inputs are unchanging arrays: {@code unchanging[i]} says that the caller never modifies
     * an array it passes as input i in place (a conditioning: the context, SDXL's pooled embedding and time ids, the
     * prompt K|V, made once per denoising loop and passed to every step's call). Each graph then copies such an input
     * into its static one only when the array is not the same object as the one it copied last ({@link
     * #needsCopy}); a different array, of the same values or not, is always copied. The other inputs are copied at
     * every call.
     *
     * @param unchanging by input index, whether that input is unchanging (shorter than the inputs: the rest are not)
     */
    public CudaGraphRunner(String name, Device device, boolean wanted, int maxGraphs, GraphPool pool, Forward forward,
            boolean[] unchanging) {
        this.unchanging = unchanging.clone();
        if (maxGraphs < 1) {
            throw new IllegalArgumentException("maxGraphs must be at least 1: " + maxGraphs);
        }
        this.name = Objects.requireNonNull(name);
        this.device = Objects.requireNonNull(device);
        this.maxGraphs = maxGraphs;
        this.pool = Objects.requireNonNull(pool);
        this.backend = pool.backend();
        this.forward = Objects.requireNonNull(forward);
        this.enabled = wanted && backend.usable(device);
    }

    /** Whether calls go through CUDA graphs now. */
    public boolean enabled() {
        return enabled && backend.active();
    }

    /** Turns graphs off (eager calls) or back on where they can be used; off destroys the captured graphs. */
    public void setEnabled(boolean on) {
        enabled = on && backend.usable(device);
        if (!enabled) {
            clear();
        }
    }

    /** Destroys every captured graph of this runner (the pool's memory goes with the last graph that uses it). */
    public void clear() {
        graphs.values().forEach(Captured::close);
        graphs.clear();
    }

    /** @return the number of input signatures with a captured graph */
    public int graphCount() {
        return graphs.size();
    }

    /**
     * Runs the function on {@code inputs}.
     *
     * @param caller owner of the results
     * @param inputs the inputs in the function's order (entries may be null); never written. Those the constructor
     *     names unchanging must not be modified in place while the runner may see them again (a graph that copied one
     *     would not copy it again)
     * @return the function's outputs; through a graph, views of its static outputs, valid until the next call of
     *     any runner of the same {@link GraphPool}: queue what reads them (or copy them) before that
     */
    public NDArray[] run(NDManager caller, NDArray... inputs) {
        if (!enabled()) {
            return forward.apply(caller, inputs);
        }
        String key = signature(inputs);
        Captured c = graphs.get(key);
        if (c == null) {
            try {
                c = capture(inputs);
            } catch (RuntimeException e) {
                LOG.warn("CUDA graph capture of {} failed ({}); running it eagerly from now on", name, e.toString());
                enabled = false;
                clear();
                return forward.apply(caller, inputs);
            }
            graphs.put(key, c);
            evict();
        }
        for (int i = 0; i < inputs.length; i++) {
            if (needsCopy(unchanging(i), c.copiedFrom[i], inputs[i])) {
                backend.copy(c.inputs[i], inputs[i]);
                c.copiedFrom[i] = unchanging(i) ? inputs[i] : null;
            }
        }
        backend.replay(c.graph);
        NDArray[] views = new NDArray[c.outputs.length];
        for (int i = 0; i < views.length; i++) {
            NDArray out = c.outputs[i];
            views[i] = out.reshape(out.getShape()); // an alias the caller owns; the graph keeps the storage
            views[i].attach(caller);
        }
        return views;
    }

    private boolean unchanging(int i) {
        return i < unchanging.length && unchanging[i];
    }

    /**
     * Whether a call's input goes into its graph's static input before the replay: every present input, except an
     * unchanging one (never modified in place: the constructor's contract) that is the very array copied into this
     * graph last ({@code last}, by identity: another array of the same shape, even of the same values, is copied).
     *
     * @param unchanging whether the input is one of the runner's unchanging ones
     * @param last the array this graph last copied for that input (or took at capture), or null
     * @param input the call's array, or null (absent)
     */
    static boolean needsCopy(boolean unchanging, NDArray last, NDArray input) {
        return input != null && !(unchanging && input == last);
    }

    /**
     * The key of a call's graph: each input's shape and type in order, {@code -} for an absent one, e.g. {@code
     * "(2, 4, 64, 64) float16|(1) float32|-"}.
     */
    static String signature(NDArray[] inputs) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < inputs.length; i++) {
            if (i > 0) {
                b.append('|');
            }
            NDArray a = inputs[i];
            b.append(a == null ? "-" : a.getShape() + " " + a.getDataType());
        }
        return b.toString();
    }

    private Captured capture(NDArray[] inputs) {
        long t0 = System.nanoTime();
        NDManager m = NDManager.newBaseManager(device);
        long g;
        try {
            g = backend.create(pool.shareWith());
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        Captured c = new Captured(m, g, new NDArray[inputs.length]);
        boolean ok = false;
        try {
            for (int i = 0; i < inputs.length; i++) {
                if (inputs[i] != null) {
                    c.inputs[i] = inputs[i].duplicate(); // before the capture: not in the pool
                    c.inputs[i].attach(m);
                    c.copiedFrom[i] = unchanging(i) ? inputs[i] : null;
                }
            }
            backend.sync();
            backend.enter(g);
            try {
                try (NDManager warm = m.newSubManager()) { // warm-up on the capture stream (kernels, workspaces)
                    forward.apply(warm, c.inputs);
                }
                // the warm-up's memory is cached for the side stream, and the capture allocates from the pool, not
                // from that cache: released first, or the eager working set and the captured one would both be held
                // (twice a float32 SDXL decode's ~4 GiB)
                backend.releaseCache();
                c.outputs = backend.capture(g, () -> forward.apply(m, c.inputs));
            } finally {
                backend.exit(g);
            }
            ok = true;
        } finally {
            if (!ok) {
                c.close();
            }
        }
        c.live = true;
        pool.added(g);
        LOG.info("captured a CUDA graph of {} for {} in {} ms", name, inputs.length == 0 || inputs[0] == null ? "()"
                : inputs[0].getShape(), (System.nanoTime() - t0) / 1_000_000);
        return c;
    }

    private void evict() {
        Iterator<Map.Entry<String, Captured>> it = graphs.entrySet().iterator();
        while (graphs.size() > maxGraphs && it.hasNext()) {
            Captured old = it.next().getValue();
            it.remove();
            old.close();
        }
    }

    @Override
    public void close() {
        clear();
    }
}
