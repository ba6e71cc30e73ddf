package org.diffusionbot.worker.engine.models;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.LinkedHashMap;
import java.util.Map;
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
    private final Map<String, Parameter> named = new LinkedHashMap<>();

    /** Parameters of a part that takes no convolution weights, or keeps them NCHW. */
    Params(Weights weights, NDManager manager, DataType dtype, Device device) {
        this(weights, manager, dtype, device, false);
    }

    /**
     * @param channelsLast whether {@link #convWeight} stores convolution weights channels-last (the part's
     *     layout, decided by its loader: {@code PipelineOptions#channelsLastFor})
     * @throws IllegalArgumentException for channels-last off CUDA or without the native library
     */
    Params(Weights weights, NDManager manager, DataType dtype, Device device, boolean channelsLast) {
        if (channelsLast && !(device.isGpu() && NativeOps.available())) {
            throw new IllegalArgumentException("channels-last needs CUDA and the native library (device " + device + ")");
        }
        this.weights = weights;
        this.manager = manager;
        this.dtype = dtype;
        this.device = device;
        this.channelsLast = channelsLast;
    }

    NDArray get(String name, long... shape) {
        Shape s = new Shape(shape);
        TensorView v = weights.take(name, s);
        NDArray a = v == null ? manager.zeros(s, dtype, device) : v.toNDArray(manager, dtype, device);
        named.put(name, new Parameter(name, s, a, 0, 1));
        return a;
    }

    /**
     * Says where a parameter taken with {@link #get} now lives: rows of an array the layer built from
     * it (fused q/k/v), stored times {@code scale}.
     *
     * @param name the name it was taken under
     * @param storage the array the layer computes with
     * @param offset its first row in {@code storage}
     * @param scale {@code storage = scale · value}
     */
    void storedIn(String name, NDArray storage, long offset, double scale) {
        Parameter p = named.get(name);
        named.put(name, new Parameter(name, p.shape(), storage, offset, scale));
    }

    /** @return the parameters taken so far, by name */
    NamedParameters named() {
        return new NamedParameters(named);
    }

    /**
     * A convolution weight (out, in, k, k): channels-last when the part's layout says so (on CUDA with the
     * native library, for a float16 part unless {@code SD_CHANNELS_LAST=0}; float32 parts stay NCHW), so that
     * convolutions run in NHWC and so do their outputs.
     */
    NDArray convWeight(String name, long... shape) {
        NDArray w = get(name, shape);
        if (!channelsLast) {
            return w;
        }
        NDArray cl = NativeOps.toChannelsLast(w);
        w.close();
        storedIn(name, cl, 0, 1);
        return cl;
    }

    /** Whether {@link #convWeight} stores convolution weights channels-last (the part's layout). */
    boolean channelsLast() {
        return channelsLast;
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
