package org.diffusionbot.worker.engine.cuda;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A {@link GraphBackend} for CPU tests: records every call, checks what the native one would refuse (sharing the pool
 * of a graph that is not captured and live, replaying one that is not), and emulates a graph: a capture runs its body
 * once and keeps the outputs as the static ones, a replay runs the body again on the static inputs and copies the
 * results into those same output arrays (so a view of an output taken before a replay shows the replay's values, as
 * on the device).
 */
public final class FakeGraphBackend implements GraphBackend {
    /** One line per call: {@code create 1 share 0}, {@code enter 1}, {@code capture 1}, {@code replay 1}... */
    public final List<String> calls = new ArrayList<>();
    /**
     * The source array of every {@link #copy} of a runner's input into a graph's static one, in order (not a replay's
     * emulation writing its outputs).
     */
    public final List<NDArray> copied = new ArrayList<>();
    private final Map<Long, Supplier<NDArray[]>> bodies = new HashMap<>();
    private final Map<Long, NDArray[]> outputs = new HashMap<>();
    private final Set<Long> live = new LinkedHashSet<>();
    private long next = 1;
    private boolean replaying;
    private int failCaptures;
    /** What {@link #active()} answers ({@code NativeOps.enabled()} on the device). */
    public boolean active = true;

    /** The next {@code n} captures throw, as a capture of an operation that cannot be captured does. */
    public void failNextCaptures(int n) {
        failCaptures = n;
    }

    /** Whether the body running now is a replay's emulation (not an eager call of the function). */
    public boolean replaying() {
        return replaying;
    }

    /** @return the graphs created and not destroyed */
    public Set<Long> live() {
        return live;
    }

    /** @return how many calls start with {@code prefix} ({@code "replay"}, {@code "create"}...) */
    public long count(String prefix) {
        return calls.stream().filter(c -> c.startsWith(prefix)).count();
    }

    @Override
    public boolean usable(Device device) {
        return true;
    }

    @Override
    public boolean active() {
        return active;
    }

    @Override
    public long create(long sharePoolWith) {
        if (sharePoolWith != 0 && !(live.contains(sharePoolWith) && bodies.containsKey(sharePoolWith))) {
            throw new IllegalStateException("graph " + sharePoolWith + " shared but not captured and live");
        }
        long g = next++;
        live.add(g);
        calls.add("create " + g + " share " + sharePoolWith);
        return g;
    }

    @Override
    public void enter(long graph) {
        calls.add("enter " + graph);
    }

    @Override
    public void exit(long graph) {
        calls.add("exit " + graph);
    }

    @Override
    public NDArray[] capture(long graph, Supplier<NDArray[]> body) {
        calls.add("capture " + graph);
        if (failCaptures > 0) {
            failCaptures--;
            throw new IllegalStateException("operation not permitted when stream is capturing (fake)");
        }
        NDArray[] out = body.get();
        bodies.put(graph, body);
        outputs.put(graph, out);
        return out;
    }

    @Override
    public void replay(long graph) {
        if (!live.contains(graph) || !bodies.containsKey(graph)) {
            throw new IllegalStateException("replay of graph " + graph + ", not captured and live");
        }
        calls.add("replay " + graph);
        replaying = true;
        try {
            NDArray[] fresh = bodies.get(graph).get();
            NDArray[] out = outputs.get(graph);
            for (int i = 0; i < out.length; i++) {
                copy(out[i], fresh[i]);
                fresh[i].close();
            }
        } finally {
            replaying = false;
        }
    }

    @Override
    public void destroy(long graph) {
        if (!live.remove(graph)) {
            throw new IllegalStateException("graph " + graph + " destroyed twice");
        }
        bodies.remove(graph);
        outputs.remove(graph);
        calls.add("destroy " + graph);
    }

    @Override
    public void copy(NDArray dst, NDArray src) {
        if (!dst.getShape().equals(src.getShape()) || dst.getDataType() != src.getDataType()) {
            throw new IllegalArgumentException("copy of " + src.getShape() + " " + src.getDataType() + " into "
                    + dst.getShape() + " " + dst.getDataType());
        }
        if (!replaying) { // not a replay's emulation writing its outputs
            copied.add(src);
        }
        dst.set(new NDIndex("..."), src); // in place (set(Buffer) would give dst new storage, unseen by its views)
    }

    @Override
    public void sync() {
        calls.add("sync");
    }

    @Override
    public void releaseCache() {
        calls.add("releaseCache");
    }
}
