package org.diffusionbot.worker.engine.lora;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.diffusionbot.worker.engine.io.TensorView;

/**
 * The weight change one LoRA file makes to one module, built from its stored factors as
 * AUTOMATIC1111's {@code extensions-builtin/Lora/network_*.py} builds it ({@code calc_updown} +
 * {@code finalize_updown}): the product of the factors, reshaped to the weight's shape, times the
 * scale alpha / rank (1 when the file stores no alpha or the format has no rank). The prompt's
 * weight is applied by the caller.
 */
public sealed interface LoraDelta {
    /**
     * The delta in float32 on {@code device}, shaped like the target weight (same element count).
     *
     * @param manager owner of the result (intermediates are freed)
     * @param device where to compute
     * @param target the shape of the weight it is added to
     * @return {@code scale · product}, shape {@code target}
     */
    NDArray compute(NDManager manager, Device device, Shape target);

    /** @return the number of elements of the product (must equal the target weight's) */
    long elements();

    /** @return the product's first dimension (the module's output features or channels) */
    long outFeatures();

    /**
     * Classic LoRA and LoCon ({@code lora_up} [out, r(, 1, 1)], {@code lora_down} [r, in(, kh, kw)],
     * optional {@code lora_mid} [r, r, kh, kw] for LoCon's Tucker form; PEFT's {@code lora_B} /
     * {@code lora_A} are up / down): {@code up @ down}, or {@code Σ mid[n,m,k,l]·up[i,n]·down[m,j]}
     * with a mid ({@code rebuild_cp_decomposition}).
     *
     * @param up the up factor
     * @param down the down factor
     * @param mid the Tucker core, or null
     * @param alpha the stored alpha, or null (then the scale is 1)
     */
    record LowRank(TensorView up, TensorView down, TensorView mid, Float alpha) implements LoraDelta {
        @Override
        public NDArray compute(NDManager manager, Device device, Shape target) {
            try (NDManager m = manager.newSubManager(device)) {
                NDArray u = matrix(m, device, up);
                NDArray d = matrix(m, device, down);
                NDArray product = mid == null ? u.matMul(d) : tucker(u, read(m, device, mid), d);
                NDArray out = mul(product.reshape(target), scale());
                out.attach(manager);
                return out;
            }
        }

        /** Whether the change is the plain product {@code up @ down} (no Tucker core), which {@link #factors} gives. */
        public boolean plain() {
            return mid == null;
        }

        /**
         * The plain product's factors as matrices, read from the file: up [out, r] and down [r, in·kh·kw]
         * (their product, row-major, is the change laid out as the weight).
         *
         * @param manager owner of the two arrays
         * @param device where they go
         * @param keepHalf keep a float16 tensor of the file in float16 (else float32)
         * @return {up, down}
         */
        public NDArray[] factors(NDManager manager, Device device, boolean keepHalf) {
            return new NDArray[] {matrix(manager, device, up, keepHalf), matrix(manager, device, down, keepHalf)};
        }

        /** @return the bytes {@link #factors} takes */
        public long factorBytes(boolean keepHalf) {
            return bytes(up, keepHalf) + bytes(down, keepHalf);
        }

        /** @return alpha / rank (1 without an alpha): what the product is multiplied by */
        public float scale() {
            return LoraDelta.scale(alpha, down.shape().get(0));
        }

        @Override
        public long elements() {
            long kernel = mid == null ? 1 : mid.shape().size() / (mid.shape().get(0) * mid.shape().get(1));
            return up.shape().get(0) * (down.shape().size() / down.shape().get(0)) * kernel;
        }

        @Override
        public long outFeatures() {
            return up.shape().get(0);
        }
    }

    /**
     * LyCORIS LoHa ({@code hada_w1_a} [out, r], {@code hada_w1_b} [r, in·kh·kw], the same for w2;
     * with {@code hada_t1}/{@code hada_t2} [r, r, kh, kw] the a factors are [r, out] and each
     * product is the Tucker form): {@code (w1a @ w1b) ⊙ (w2a @ w2b)}, rank = {@code w1b}'s first
     * dimension ({@code network_hada.py}).
     */
    record Hadamard(TensorView w1a, TensorView w1b, TensorView t1, TensorView w2a, TensorView w2b, TensorView t2,
            Float alpha) implements LoraDelta {
        @Override
        public NDArray compute(NDManager manager, Device device, Shape target) {
            try (NDManager m = manager.newSubManager(device)) {
                NDArray one = factor(m, device, w1a, w1b, t1).reshape(target);
                NDArray two = factor(m, device, w2a, w2b, t2).reshape(target);
                NDArray out = mul(one.mul(two), scale(alpha, w1b.shape().get(0)));
                out.attach(manager);
                return out;
            }
        }

        private static NDArray factor(NDManager m, Device device, TensorView a, TensorView b, TensorView t) {
            if (t == null) {
                return matrix(m, device, a).matMul(matrix(m, device, b));
            }
            return tucker(matrix(m, device, a).transpose(), read(m, device, t), matrix(m, device, b));
        }

        @Override
        public long elements() {
            return outFeatures() * (w1b.shape().size() / w1b.shape().get(0)) * kernel(t1);
        }

        @Override
        public long outFeatures() {
            return t1 == null ? w1a.shape().get(0) : w1a.shape().get(1);
        }
    }

    /**
     * LyCORIS LoKr: {@code kron(w1, w2)} with {@code w1} stored whole ({@code lokr_w1}) or as
     * {@code lokr_w1_a @ lokr_w1_b}, and {@code w2} whole, as {@code lokr_w2_a @ lokr_w2_b}, or in
     * Tucker form with {@code lokr_t2} ({@code network_lokr.py}); the rank is the first dimension of
     * {@code w1_b}, else of {@code w2_b}; with neither, the scale is 1.
     */
    record Kronecker(TensorView w1, TensorView w1a, TensorView w1b, TensorView w2, TensorView w2a, TensorView w2b,
            TensorView t2, Float alpha) implements LoraDelta {
        @Override
        public NDArray compute(NDManager manager, Device device, Shape target) {
            try (NDManager m = manager.newSubManager(device)) {
                NDArray a = w1 != null ? matrix(m, device, w1) : matrix(m, device, w1a).matMul(matrix(m, device, w1b));
                NDArray b;
                if (w2 != null) {
                    b = matrix(m, device, w2);
                } else if (t2 == null) {
                    b = matrix(m, device, w2a).matMul(matrix(m, device, w2b));
                } else {
                    b = tucker(matrix(m, device, w2a).transpose(), read(m, device, t2), matrix(m, device, w2b));
                    b = b.reshape(b.getShape().get(0), -1);
                }
                long r1 = a.getShape().get(0);
                long c1 = a.getShape().get(1);
                long r2 = b.getShape().get(0);
                long c2 = b.getShape().get(1);
                // kron: out[i·r2 + k, j·c2 + l] = a[i, j] · b[k, l]
                NDArray kron = a.reshape(r1, 1, c1, 1).mul(b.reshape(1, r2, 1, c2)).reshape(r1 * r2, c1 * c2);
                Long rank = w1b != null ? Long.valueOf(w1b.shape().get(0)) : w2b != null ? w2b.shape().get(0) : null;
                NDArray out = mul(kron.reshape(target), rank == null ? 1f : scale(alpha, rank));
                out.attach(manager);
                return out;
            }
        }

        @Override
        public long elements() {
            long a = w1 != null ? w1.shape().size() : w1a.shape().get(0) * w1b.shape().get(1);
            long b;
            if (w2 != null) {
                b = w2.shape().size();
            } else if (t2 == null) {
                b = w2a.shape().get(0) * (w2b.shape().size() / w2b.shape().get(0));
            } else {
                b = w2a.shape().get(1) * (w2b.shape().size() / w2b.shape().get(0)) * kernel(t2);
            }
            return a * b;
        }

        @Override
        public long outFeatures() {
            long a = w1 != null ? w1.shape().get(0) : w1a.shape().get(0);
            long b = w2 != null ? w2.shape().get(0) : t2 == null ? w2a.shape().get(0) : w2a.shape().get(1);
            return a * b;
        }
    }

    /** alpha / rank, or 1 without an alpha (kohya's rule: no alpha means alpha = rank). */
    private static float scale(Float alpha, long rank) {
        return alpha == null ? 1f : alpha / rank;
    }

    private static long kernel(TensorView t) {
        return t == null ? 1 : t.shape().size() / (t.shape().get(0) * t.shape().get(1));
    }

    private static NDArray read(NDManager m, Device device, TensorView v) {
        return v.toNDArray(m, DataType.FLOAT32, device);
    }

    /** The factor as a matrix: its first dimension by all the others. */
    private static NDArray matrix(NDManager m, Device device, TensorView v) {
        return read(m, device, v).reshape(v.shape().get(0), -1);
    }

    /** The factor as a float32 (or, with keepHalf, the file's float16) matrix owned by {@code m}. */
    private static NDArray matrix(NDManager m, Device device, TensorView v, boolean keepHalf) {
        NDArray a = v.toNDArray(m, half(v, keepHalf) ? DataType.FLOAT16 : DataType.FLOAT32, device);
        if (a.getShape().dimension() == 2) {
            return a;
        }
        NDArray matrix = a.reshape(v.shape().get(0), -1);
        a.close(); // the reshape shares the memory
        return matrix;
    }

    private static boolean half(TensorView v, boolean keepHalf) {
        return keepHalf && v.dtype() == org.diffusionbot.worker.engine.io.SafeDType.F16;
    }

    private static long bytes(TensorView v, boolean keepHalf) {
        return v.shape().size() * (half(v, keepHalf) ? 2 : 4);
    }

    /**
     * {@code out[i, j, k, l] = Σ_{n,m} core[n, m, k, l] · up[i, n] · down[m, j]} (lyco_helpers'
     * {@code rebuild_cp_decomposition}) for up [out, r], core [r, r, kh, kw], down [r, in].
     */
    private static NDArray tucker(NDArray up, NDArray core, NDArray down) {
        Shape c = core.getShape();
        long out = up.getShape().get(0);
        long r = c.get(1);
        long kernel = c.size() / (c.get(0) * r);
        NDArray upCore = up.matMul(core.reshape(c.get(0), r * kernel)).reshape(out, r, kernel).transpose(0, 2, 1);
        return upCore.matMul(down).transpose(0, 2, 1).reshape(out, down.getShape().get(1), c.get(2), c.get(3));
    }
}
