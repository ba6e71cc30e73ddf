package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.function.Function;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/** Small op helpers shared by the model classes. */
final class Ops {
    private Ops() {}

    static NDArray concat(NDList list, int axis) {
        return ai.djl.ndarray.NDArrays.concat(list, axis);
    }

    /** SiLU: x * sigmoid(x). */
    static NDArray silu(NDArray x) {
        return x.mul(x.getNDArrayInternal().sigmoid());
    }

    /**
     * Nearest-neighbour resize of (B, C, H, W) to (B, C, h, w) ({@code F.interpolate(size=(h, w), mode="nearest")}):
     * with the native library, {@link NativeOps#upsampleNearest(NDArray, long, long)} (our kernel for an exact 2x of a
     * channels-last fp16/float32 CUDA tensor, else the same {@code at::upsample_nearest2d} as DJL); without it, DJL's
     * interpolation. The same values and layout either way.
     */
    static NDArray upsampleNearest(NDArray x, long h, long w) {
        if (NativeOps.upsampleNearest()) {
            return NativeOps.upsampleNearest(x, h, w);
        }
        return x.getNDArrayInternal().interpolation(new long[] {h, w}, 0, false);
    }

    /**
     * Runs {@code body} with the inputs temporarily attached to a sub-manager of {@code caller}, so
     * that every intermediate is freed when it returns; the result is attached to {@code caller}.
     */
    static NDArray scoped(NDManager caller, Function<NDManager, NDArray> body, NDArray... inputs) {
        try (NDManager sub = caller.newSubManager()) {
            for (NDArray in : inputs) {
                if (in != null && in.getManager() != sub) { // the same array may be passed twice
                    sub.tempAttachAll(in);
                }
            }
            NDArray result = body.apply(sub);
            result.attach(caller);
            return result;
        }
    }
}
