package org.diffusionbot.worker.engine.random;

/**
 * A pure-Java copy of PyTorch's CPU random generator ({@code torch.Generator("cpu")}).
 *
 * <p>{@code new TorchGenerator(seed).randn(shape)} returns exactly the float32 values of {@code
 * torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))} (within one float ulp:
 * PyTorch's vectorised log/sin/cos may round the last bit differently), and consecutive calls
 * continue the same stream as consecutive {@code torch.randn} calls on that generator do. This is
 * what diffusers pipelines rely on: the initial latent noise and then, for ancestral samplers, the
 * per-step noise all come from one seeded generator.
 *
 * <p>Implementation, following ATen: a 32-bit Mersenne Twister (mt19937) seeded with the low 32
 * bits of the seed; {@code random()} is one 32-bit output, {@code random64()} two outputs (first
 * = high word). {@code normal_} on a contiguous float tensor with at least 16 elements fills the
 * tensor with 24-bit uniforms, then transforms each chunk of 16 with Box-Muller (element j and
 * j+8 form a pair); when the size is not a multiple of 16 the last 16 elements are re-drawn and
 * transformed again. Smaller tensors take a scalar path: double-precision Box-Muller from two
 * 53-bit uniforms, whose second value is cached in the generator for the next scalar draw.
 *
 * <p>Each instance is an independent stream; methods are synchronized so an instance may be
 * shared between threads, but one generator per job is the intended use.
 */
public final class TorchGenerator {
    private static final int N = 624;
    private static final int M = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;

    private final long seed;
    private final int[] state = new int[N];
    private int next;
    private boolean hasCachedNormal;
    private double cachedNormal;

    /** A generator in the state of {@code torch.Generator("cpu").manual_seed(seed)}. */
    public TorchGenerator(long seed) {
        this.seed = seed;
        state[0] = (int) seed; // PyTorch keeps the low 32 bits
        for (int j = 1; j < N; j++) {
            int prev = state[j - 1];
            state[j] = 1812433253 * (prev ^ (prev >>> 30)) + j;
        }
        next = N; // forces a twist on the first draw, like mt19937's left_ == 1
    }

    /** The seed this generator was created with. */
    public long seed() {
        return seed;
    }

    /** One 32-bit output of the Mersenne Twister (PyTorch's {@code random()}), as unsigned. */
    public synchronized long nextUInt32() {
        return Integer.toUnsignedLong(nextInt());
    }

    private int nextInt() {
        if (next >= N) {
            twist();
        }
        int y = state[next++];
        y ^= (y >>> 11);
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= (y >>> 18);
        return y;
    }

    private void twist() {
        for (int i = 0; i < N; i++) {
            int y = (state[i] & UPPER_MASK) | (state[(i + 1) % N] & LOWER_MASK);
            int v = state[(i + M) % N] ^ (y >>> 1);
            if ((y & 1) != 0) {
                v ^= MATRIX_A;
            }
            state[i] = v;
        }
        next = 0;
    }

    private long random64() {
        long hi = Integer.toUnsignedLong(nextInt());
        long lo = Integer.toUnsignedLong(nextInt());
        return (hi << 32) | lo;
    }

    /** A float uniform in [0, 1) from 24 random bits, as {@code uniform_real_distribution<float>}. */
    private float uniformFloat() {
        return (nextInt() & 0xFFFFFF) * (1.0f / (1 << 24));
    }

    /** A double uniform in [0, 1) from 53 random bits, as {@code uniform_real_distribution<double>}. */
    private double uniformDouble() {
        return (random64() & ((1L << 53) - 1)) * (1.0 / (1L << 53));
    }

    /**
     * Standard normal float32 values for a tensor of the given shape, flattened in row-major
     * order, exactly as {@code torch.randn(shape, generator=this)}.
     */
    public float[] randn(long... shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape");
            }
            n *= d;
        }
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor too large: " + n);
        }
        return randn((int) n);
    }

    /** {@code numel} standard normal float32 values, as {@code torch.randn(numel, generator=this)}. */
    public synchronized float[] randn(int numel) {
        float[] data = new float[numel];
        if (numel >= 16) {
            for (int i = 0; i < numel; i++) {
                data[i] = uniformFloat();
            }
            for (int i = 0; i + 16 <= numel; i += 16) {
                boxMuller16(data, i);
            }
            if (numel % 16 != 0) {
                int start = numel - 16;
                for (int i = 0; i < 16; i++) {
                    data[start + i] = uniformFloat();
                }
                boxMuller16(data, start);
            }
        } else {
            for (int i = 0; i < numel; i++) {
                data[i] = (float) normalDouble();
            }
        }
        return data;
    }

    private static final float TWO_PI_F = (float) (2.0 * Math.PI);

    private static void boxMuller16(float[] data, int off) {
        for (int j = 0; j < 8; j++) {
            float u1 = 1.0f - data[off + j];
            float u2 = data[off + j + 8];
            float radius = (float) Math.sqrt((float) (-2.0f * (float) Math.log(u1)));
            float theta = TWO_PI_F * u2;
            data[off + j] = radius * (float) Math.cos(theta);
            data[off + j + 8] = radius * (float) Math.sin(theta);
        }
    }

    /** {@code at::normal_distribution<double>(0, 1)}: Box-Muller with a cached second value. */
    private double normalDouble() {
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal;
        }
        double u1 = uniformDouble();
        double u2 = uniformDouble();
        double r = Math.sqrt(-2.0 * Math.log1p(-u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * Math.sin(theta);
        hasCachedNormal = true;
        return r * Math.cos(theta);
    }
}
