package org.diffusionbot.worker.engine.models;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.concurrent.ConcurrentHashMap;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * Where model constructors get their parameters: takes tensors by (diffusers) name and expected
 * shape from {@link Weights} and converts them to NDArrays of the model's dtype and device in the
 * model's long-lived manager. A missing or mis-shaped tensor yields a zero placeholder and is
 * reported by {@link #verify()} after construction, so one load lists every problem.
 */
final class Params {
    private final Weights weights;
    private final NDManager manager;
    private final DataType dtype;
    private final Device device;
    private final boolean channelsLast;
    private final ConcurrentHashMap<Long, NDArray[]> groupNormScratch = new ConcurrentHashMap<>();

    Params(Weights weights, NDManager manager, DataType dtype, Device device) {
        this.weights = weights;
        this.manager = manager;
        this.dtype = dtype;
        this.device = device;
        this.channelsLast = device.isGpu() && NativeOps.channelsLastOnGpu();
    }

    NDArray get(String name, long... shape) {
        Shape s = new Shape(shape);
        TensorView v = weights.take(name, s);
        if (v == null) {
            return manager.zeros(s, dtype, device);
        }
        return v.toNDArray(manager, dtype, device);
    }

    /**
     * A convolution weight (out, in, k, k): channels-last on CUDA with the native library (see
     * {@link NativeOps#channelsLastOnGpu()}), so that convolutions run in NHWC and so do their outputs.
     */
    NDArray convWeight(String name, long... shape) {
        NDArray w = get(name, shape);
        if (!channelsLast) {
            return w;
        }
        NDArray cl = NativeOps.toChannelsLast(w);
        w.close();
        return cl;
    }

    boolean has(String name) {
        return weights.get(name) != null;
    }

    NDManager manager() {
        return manager;
    }

    DataType dtype() {
        return dtype;
    }

    Device device() {
        return device;
    }

    void verify() {
        weights.verify();
    }

    /**
     * Per-size scratch tensors for GroupNorm done as a training-mode batch norm: {ones, zeros,
     * running mean, running var}. The running statistics are written by PyTorch and never read.
     */
    NDArray[] groupNormScratch(long n) {
        return groupNormScratch.computeIfAbsent(n, k -> {
            synchronized (manager) {
                Shape s = new Shape(k);
                return new NDArray[] {
                    manager.ones(s, dtype, device), manager.zeros(s, dtype, device),
                    manager.zeros(s, dtype, device), manager.ones(s, dtype, device)
                };
            }
        });
    }
}
