package org.diffusionbot.worker.engine.pipeline;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import org.diffusionbot.worker.engine.cuda.KernelProfiler;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * Host wall-clock time per phase of {@link StableDiffusionPipeline#run} (benchmarks: where the time of a whole
 * image goes), set on a pipeline with {@link StableDiffusionPipeline#setPhaseTimer}. The pipeline opens
 * {@code text}, {@code latents}, {@code denoise} and {@code decode} ({@link #phase}) and, inside {@code denoise},
 * one {@code preview} per step preview rendered ({@link #part}); a timer set across several runs adds them up.
 *
 * <p>Synchronisation: with {@code synchronise} true every {@link #phase} waits for the device ({@link
 * NativeOps#sync()}: a no-op without the native library) when it opens and when it closes, so each phase's time
 * is the time its device work takes, not the time to queue it; {@link #part}s never wait. Without it (and
 * without a timer, the production case) the pipeline never synchronises more than it does anyway. Every phase
 * and part is also a {@link KernelProfiler#range} of the same name.
 *
 * <p>Not thread-safe: one generating thread at a time.
 */
public final class PhaseTimer {
    private final boolean synchronise;
    private final Runnable sync;
    private final LongSupplier clock;
    private final Map<String, long[]> phases = new LinkedHashMap<>(); // name → {nanoseconds, count}

    /**
     * @param synchronise whether each {@link #phase} waits for the device when it opens and closes
     */
    public PhaseTimer(boolean synchronise) {
        this(synchronise, NativeOps::sync, System::nanoTime);
    }

    /** Tests: the device wait and the clock (nanoseconds) given. */
    PhaseTimer(boolean synchronise, Runnable sync, LongSupplier clock) {
        this.synchronise = synchronise;
        this.sync = sync;
        this.clock = clock;
    }

    /** An open phase or part; closing it records its time. */
    public interface Span extends AutoCloseable {
        @Override
        void close();
    }

    /** Whether {@link #phase}s wait for the device. */
    public boolean synchronised() {
        return synchronise;
    }

    /**
     * Opens a phase: the device synchronised first if asked, then the clock read; on close the device synchronised
     * again if asked, then the time added to the phase's total.
     *
     * @param name the phase (also the profiler range's name)
     */
    public Span phase(String name) {
        return open(name, synchronise);
    }

    /** Opens a part that never synchronises (a preview inside the denoise phase): host time only. */
    public Span part(String name) {
        return open(name, false);
    }

    private Span open(String name, boolean wait) {
        KernelProfiler.Range range = KernelProfiler.range(name);
        if (wait) {
            sync.run();
        }
        long start = clock.getAsLong();
        return () -> {
            try {
                if (wait) {
                    sync.run();
                }
                long[] t = phases.computeIfAbsent(name, k -> new long[2]);
                t[0] += clock.getAsLong() - start;
                t[1]++;
            } finally {
                range.close();
            }
        };
    }

    /**
     * A {@link #phase} of {@code timer}, or only the profiler range of that name where {@code timer} is null.
     */
    static Span phase(PhaseTimer timer, String name) {
        if (timer != null) {
            return timer.phase(name);
        }
        KernelProfiler.Range r = KernelProfiler.range(name);
        return r::close;
    }

    /** A {@link #part} of {@code timer}, or only the profiler range of that name where {@code timer} is null. */
    static Span part(PhaseTimer timer, String name) {
        if (timer != null) {
            return timer.part(name);
        }
        KernelProfiler.Range r = KernelProfiler.range(name);
        return r::close;
    }

    /** @return the names recorded, in the order each was first closed */
    public List<String> names() {
        return new ArrayList<>(phases.keySet());
    }

    /** @return the total milliseconds of a phase or part over its spans (0 if never recorded) */
    public double ms(String name) {
        long[] t = phases.get(name);
        return t == null ? 0 : t[0] / 1e6;
    }

    /** @return how many spans of that name closed */
    public int count(String name) {
        long[] t = phases.get(name);
        return t == null ? 0 : (int) t[1];
    }

    /** @return the sum of the milliseconds of the {@link #phase}s named (parts lie inside phases: leave them out) */
    public double sumMs(String... names) {
        double s = 0;
        for (String n : names) {
            s += ms(n);
        }
        return s;
    }
}
