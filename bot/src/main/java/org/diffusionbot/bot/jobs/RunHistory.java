package org.diffusionbot.bot.jobs;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Recent run times per model, for the ETAs of {@code /models} and {@code /admin workers}: how long the model's last
 * {@link #KEPT} finished jobs ran on their workers (the worker's own {@code generate} time of each result), and how
 * long its last load took (what a worker says in a {@code loading_model} progress). In memory: after a restart the
 * figures come back with the first jobs.
 */
public final class RunHistory {
    /** Run times kept per model. */
    public static final int KEPT = 20;

    private final Map<String, Deque<Long>> runs = new ConcurrentHashMap<>();
    private final Map<String, Long> loads = new ConcurrentHashMap<>();

    /** A job of {@code model} ran for {@code took} (started to finished, on its worker). */
    public void ran(String model, Duration took) {
        Deque<Long> d = runs.computeIfAbsent(model, m -> new ArrayDeque<>());
        synchronized (d) {
            d.addLast(took.toMillis());
            while (d.size() > KEPT) {
                d.removeFirst();
            }
        }
    }

    /** A worker said its last load of {@code model} took {@code took}. */
    public void loaded(String model, Duration took) {
        loads.put(model, took.toMillis());
    }

    /** The median run time of the model's recent jobs; empty when none finished since the bot started. */
    public Optional<Duration> typicalRun(String model) {
        Deque<Long> d = runs.get(model);
        if (d == null) {
            return Optional.empty();
        }
        long[] ms;
        synchronized (d) {
            ms = d.stream().mapToLong(Long::longValue).toArray();
        }
        if (ms.length == 0) {
            return Optional.empty();
        }
        Arrays.sort(ms);
        long median = ms.length % 2 == 1 ? ms[ms.length / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
        return Optional.of(Duration.ofMillis(median));
    }

    /** How long the model's last load took, as a worker reported it; empty when none was reported. */
    public Optional<Duration> lastLoad(String model) {
        Long ms = loads.get(model);
        return ms == null ? Optional.empty() : Optional.of(Duration.ofMillis(ms));
    }
}
