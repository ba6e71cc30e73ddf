package org.diffusionbot.worker.engine.schedulers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.diffusionbot.worker.engine.random.TorchGenerator;

/**
 * Supplies standard normal noise for stochastic samplers ({@code euler_a}). Called at most once
 * per step with the sample's shape; the returned array must be float32 and created by {@code
 * manager} (it is freed at the end of the step).
 */
@FunctionalInterface
public interface NoiseSource {
    NDArray next(NDManager manager, Shape shape);

    /** For deterministic samplers: fails if noise is ever requested. */
    NoiseSource NONE = (m, s) -> {
        throw new IllegalStateException("this sampler needs a NoiseSource");
    };

    /**
     * Noise from one generator per batch element, each drawing {@code randn(1, C, H, W)} as
     * diffusers does with a list of generators, so every job of a batch keeps its own stream.
     */
    static NoiseSource of(TorchGenerator... perBatchElement) {
        TorchGenerator[] gens = perBatchElement.clone();
        return (manager, shape) -> {
            if (shape.get(0) != gens.length) {
                throw new IllegalArgumentException("batch " + shape.get(0) + " but " + gens.length + " generators");
            }
            long[] one = shape.getShape().clone();
            one[0] = 1;
            int per = (int) (shape.size() / gens.length);
            if (per * gens.length != shape.size()) {
                throw new IllegalArgumentException("bad shape " + shape);
            }
            float[] all = new float[(int) shape.size()];
            for (int b = 0; b < gens.length; b++) {
                System.arraycopy(gens[b].randn(one), 0, all, b * per, per);
            }
            return manager.create(all, shape);
        };
    }
}
