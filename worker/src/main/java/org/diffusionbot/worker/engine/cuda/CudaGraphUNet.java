package org.diffusionbot.worker.engine.cuda;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.diffusionbot.worker.engine.models.Conditioning;
import org.diffusionbot.worker.engine.models.UNet2DConditionModel;

/**
 * Runs the UNet through CUDA graphs: the first call of each input shape runs it once eagerly on a
 * side stream (warm-up), then captures one eager forward into a graph with static input and output
 * tensors; later calls of that shape copy their inputs into the static ones and replay the graph
 * (one launch instead of ~1,000 JNI calls and kernel launches). At most {@code maxGraphs} shapes
 * are kept (least recently used evicted, their memory pool released), so memory does not grow with
 * the number of jobs. Needs {@link NativeOps} and a CUDA device; otherwise, or when
 * {@code SD_CUDA_GRAPHS=0}, it simply calls the UNet. A capture that fails disables graphs for this
 * instance and falls back to eager calls.
 *
 * <p>Not thread-safe: one caller at a time (the pipeline runs one batch at a time).
 */
public final class CudaGraphUNet implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CudaGraphUNet.class);

    private final UNet2DConditionModel unet;
    private final Device device;
    private final int maxGraphs;
    private boolean enabled;
    private final LinkedHashMap<String, Captured> graphs = new LinkedHashMap<>(8, 0.75f, true);

    private static final class Captured implements AutoCloseable {
        final NDManager manager;
        final long graph;
        final NDArray sample;
        final NDArray timestep;
        final Conditioning cond; // the static conditioning inputs
        NDArray out;

        Captured(NDManager manager, long graph, NDArray sample, NDArray timestep, Conditioning cond) {
            this.manager = manager;
            this.graph = graph;
            this.sample = sample;
            this.timestep = timestep;
            this.cond = cond;
        }

        @Override
        public void close() {
            NativeOps.graphDestroy(graph);
            manager.close();
        }
    }

    /**
     * @param unet the model
     * @param device where it runs (graphs only on CUDA)
     * @param wanted whether graphs are wanted ({@code SD_CUDA_GRAPHS} not 0, read by the caller); they are
     *     used only on CUDA with the native library loaded
     * @param maxGraphs how many input shapes keep a graph
     */
    public CudaGraphUNet(UNet2DConditionModel unet, Device device, boolean wanted, int maxGraphs) {
        this.unet = unet;
        this.device = device;
        this.maxGraphs = maxGraphs;
        this.enabled = wanted && device.isGpu() && NativeOps.available();
    }

    /** Whether calls go through CUDA graphs. */
    public boolean enabled() {
        return enabled && NativeOps.enabled();
    }

    /** Turns graphs off (eager calls) or back on where possible; off releases the captured graphs. */
    public void setEnabled(boolean on) {
        enabled = on && device.isGpu() && NativeOps.available();
        if (!enabled) {
            clear();
        }
    }

    /** The wrapped model. */
    public UNet2DConditionModel unet() {
        return unet;
    }

    /** Releases every captured graph (and its memory pool). */
    public void clearGraphs() {
        clear();
    }

    /** Number of shapes with a captured graph. */
    public int graphCount() {
        return graphs.size();
    }

    /**
     * Same contract as {@link UNet2DConditionModel#forward(NDManager, NDArray, NDArray, NDArray)}; with
     * graphs the result is a view of the graph's static output, valid until the next call: consume
     * (copy or convert) it before that.
     */
    public NDArray forward(NDManager caller, NDArray sample, NDArray timestep, NDArray context) {
        return forward(caller, sample, timestep, Conditioning.of(context));
    }

    /**
     * Same contract as {@link UNet2DConditionModel#forward(NDManager, NDArray, NDArray, Conditioning)}
     * (SDXL's pooled embedding and time ids included); with graphs the result is a view of the graph's
     * static output, valid until the next call. One graph per shape of sample, timestep and conditioning.
     */
    public NDArray forward(NDManager caller, NDArray sample, NDArray timestep, Conditioning cond) {
        if (!enabled()) {
            return unet.forward(caller, sample, timestep, cond);
        }
        String key = sample.getShape() + "|" + sample.getDataType() + "|" + timestep.getShape() + "|"
                + timestep.getDataType() + "|" + cond.signature();
        Captured c = graphs.get(key);
        if (c == null) {
            try {
                c = capture(sample, timestep, cond);
            } catch (RuntimeException e) {
                LOG.warn("CUDA graph capture failed ({}); running the UNet eagerly from now on", e.toString());
                enabled = false;
                clear();
                return unet.forward(caller, sample, timestep, cond);
            }
            graphs.put(key, c);
            evict();
        }
        NativeOps.copyInto(NativeOps.h(c.sample), NativeOps.h(sample));
        NativeOps.copyInto(NativeOps.h(c.timestep), NativeOps.h(timestep));
        NativeOps.copyInto(NativeOps.h(c.cond.context()), NativeOps.h(cond.context()));
        if (cond.hasAdded()) {
            NativeOps.copyInto(NativeOps.h(c.cond.textEmbeds()), NativeOps.h(cond.textEmbeds()));
            NativeOps.copyInto(NativeOps.h(c.cond.timeIds()), NativeOps.h(cond.timeIds()));
        }
        NativeOps.graphReplay(c.graph);
        NDArray view = c.out.reshape(c.out.getShape()); // an alias owned by the caller
        view.attach(caller);
        return view;
    }

    /** A copy of {@code a} owned by {@code m} (null for null): a captured graph's static input. */
    private static NDArray staticCopy(NDArray a, NDManager m) {
        if (a == null) {
            return null;
        }
        NDArray c = a.duplicate();
        c.attach(m);
        return c;
    }

    private Captured capture(NDArray sample, NDArray timestep, Conditioning cond) {
        long t0 = System.nanoTime();
        NDManager m = NDManager.newBaseManager(device);
        long g;
        try {
            // one memory pool for all shapes (replays never overlap): share it with a live graph
            long share = graphs.isEmpty() ? 0L : graphs.values().iterator().next().graph;
            g = NativeOps.graphCreate(share);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        Captured c = new Captured(m, g, staticCopy(sample, m), staticCopy(timestep, m), new Conditioning(
                staticCopy(cond.context(), m), staticCopy(cond.textEmbeds(), m), staticCopy(cond.timeIds(), m)));
        boolean ok = false;
        NativeOps.sync();
        NativeOps.graphEnter(g);
        try {
            try (NDManager warm = m.newSubManager()) { // warm-up on the capture stream (kernels, workspaces)
                unet.forward(warm, c.sample, c.timestep, c.cond);
            }
            NativeOps.graphCaptureBegin(g);
            try {
                c.out = unet.forward(m, c.sample, c.timestep, c.cond);
            } finally {
                NativeOps.graphCaptureEnd(g);
            }
            ok = true;
        } finally {
            NativeOps.graphExit(g);
            if (!ok) {
                c.close();
            }
        }
        // the warm-up's blocks are cached for the side stream, where nothing else will reuse them
        NativeOps.releaseCache();
        LOG.info("captured a CUDA graph of the UNet for {} in {} ms", sample.getShape(),
                (System.nanoTime() - t0) / 1_000_000);
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

    private void clear() {
        graphs.values().forEach(Captured::close);
        graphs.clear();
    }

    @Override
    public void close() {
        clear();
    }
}
