package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.maximum;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * The FP8 companion of a linear layer that reads a LayerNorm's output and nothing else (issue 17; diffusers'
 * {@code BasicTransformerBlock}: norm1 → attn1's fused q|k|v, norm2 → attn2's q, norm3 → ff.net.0.proj), so that the
 * LayerNorm kernel writes its input in FP8 (e4m3) directly and the product runs on FP8 tensor cores (cuBLASLt's FP8
 * matmul: compute capability 8.9+).
 *
 * <p>The math, exact in real numbers: the norm's output is {@code y = x̂∘γ + β} with {@code x̂ = (x − mean)·rstd}, so
 * {@code y·Wᵀ + b = x̂·W'ᵀ + b'} with {@code W' = W·diag(γ)} and {@code b' = b + W·β} ({@link #fold}, in float32 from
 * the fp16 weights). The kernel writes {@code x̂·s_x} as e4m3 ({@link #inputScale}: a power of two that keeps every
 * {@code |x̂| ≤ √(C−1)} below e4m3's 448); W' is stored as e4m3 {@code W'/s_w}, {@code s_w = amax|W'|/448} (per
 * tensor); the product is {@code s_w·(1/s_x)·(W'_fp8·x̂_fp8) + b'} in fp32 accumulation, rounded to fp16. What is lost
 * is e4m3's 3-bit mantissa on both operands (relative steps of 1/16), against fp16's 10 bits. On by default where it runs (with ff.net.2's
 * companion below, an SD 1.5 image differs from the fp16 path's by 0.29 of 255 on average, at most 3, 53.4 dB, an
 * SDXL one by 0.47, 4, 51.0 dB, on the H200), {@code
 * SD_FP8_LINEARS=0} for the fp16 path's exact images (ComfyUI's fp8 options, by contrast, are opt-in).
 *
 * <p>A second kind ({@link #Fp8Linear(LinearLayer, NDManager)}, {@link #perRow}): the companion of the feed-forward's
 * output projection ff.net.2, whose input is the GEGLU gate's output, not a norm's ({@code SD_FP8_FF_OUT}, docs/GPU.md
 * "What runs on CUDA" 8). Nothing to fold; that input is not bounded, so the gate kernel writes it as e4m3 with one
 * scale per token ({@link NativeOps#gegluGateFp8(long)}), and W is stored as e4m3 with one scale per output feature,
 * {@code s_w[n] = amax|W[n, :]|/448} ({@link #scales}: N floats); the product scales element (m, n) by {@code
 * s_w[n]·s_m} (cuBLASLt's outer-vector scales) and adds the layer's own fp16 bias and the block's residual.
 *
 * <p>ff.net.0.proj's companion also has a static output scale ({@link #outScales}, {@link #outputScales}): its product
 * can write the GEGLU intermediate as e4m3 ({@code SD_FP8_GEGLU=1}, off by default; {@link
 * NativeOps#feedForwardFp8E4m3}), scaled by s_y
 * so that no value reaches 448, a bound that holds for every input: ‖x̂‖₂ ≤ √K for a normalised row, so by
 * Cauchy–Schwarz |y_j| ≤ ‖W'_j‖₂·‖x̂‖₂ + |b'_j|, with margins for the e4m3 roundings of W' and x̂.
 *
 * <p>The fp16 weight stays (the fallback, CPU runs, LoRA patches); {@link #refresh} recomputes this companion from it in
 * place (the same device buffers, which captured CUDA graphs read) at the first UNet call after LoRA patches or restores
 * ({@code UNet2DConditionModel.markFp8Stale} and {@code refreshFp8IfStale}).
 */
public final class Fp8Linear {
    /** Floats of {@link #scales}: s_w at 0, 1/s_x at {@link #INPUT_SCALE_SLOT} (sd_native_ops.cc kFp8ScaleSlots). */
    public static final int SCALE_SLOTS = 8;
    /** Where 1/s_x lies in {@link #scales} (sd_native_ops.cc kFp8InputScale). */
    public static final int INPUT_SCALE_SLOT = 4;

    /** e4m3's largest finite value. */
    public static final double E4M3_MAX = 448;

    private final LinearLayer source;
    /** The LayerNorm folded in, or null for a {@link #perRow} companion. */
    private final LayerNormLayer norm;
    /** W' as e4m3 bytes (N, K), DJL's UINT8. */
    final NDArray weight;
    /**
     * cuBLASLt's scale pointers of A (the weight) and B (the input), float32 ({@link #SCALE_SLOTS}): s_w at 0 and 1/s_x at
     * {@link #INPUT_SCALE_SLOT}, each 16 bytes from the other (cuBLASLt refuses scale pointers that are not 16-byte
     * aligned). For a {@link #perRow} companion: s_w per output feature (N) float32, an allocation of its own.
     */
    final NDArray scales;
    /** b' (N), fp16; for a {@link #perRow} companion the source's own bias (or null). */
    final NDArray bias;
    /** s_x, the input's scale ({@link #inputScale}); 0 for a {@link #perRow} companion (its input's scales are per token). */
    final double inputScale;
    /**
     * The static output scale of a companion whose product may write e4m3 (ff.net.0.proj's: {@code SD_FP8_GEGLU}),
     * float32 ({@link #SCALE_SLOTS}): s_y at 0 (cuBLASLt's D scale) and 1/s_y at {@link #INPUT_SCALE_SLOT} (the gate's
     * factor), as {@link #outputScales} computes them; null for the others.
     */
    final NDArray outScales;

    /**
     * Allocates the companion on the source weight's device in {@code manager} and computes it ({@link #refresh}).
     *
     * @param source the linear layer (weight (N, K) fp16, bias (N) or null)
     * @param norm the LayerNorm over K whose output is the layer's only input
     * @param manager the long-lived owner (the model's parameters' manager)
     */
    Fp8Linear(LinearLayer source, LayerNormLayer norm, NDManager manager) {
        this(source, norm, manager, false);
    }

    /**
     * As {@link #Fp8Linear(LinearLayer, LayerNormLayer, NDManager)}, with the static output scale {@link #outScales}
     * where {@code e4m3Output} (ff.net.0.proj's companion: its product may write e4m3).
     */
    Fp8Linear(LinearLayer source, LayerNormLayer norm, NDManager manager, boolean e4m3Output) {
        this.source = source;
        this.norm = norm;
        Shape ws = source.weight.getShape();
        Device device = source.weight.getDevice();
        this.weight = manager.zeros(ws, DataType.UINT8, device);
        this.scales = manager.zeros(new Shape(SCALE_SLOTS), DataType.FLOAT32, device);
        this.bias = manager.zeros(new Shape(ws.get(0)), DataType.FLOAT16, device);
        this.inputScale = inputScale(ws.get(1));
        this.outScales = e4m3Output ? manager.zeros(new Shape(SCALE_SLOTS), DataType.FLOAT32, device) : null;
        refresh();
    }

    /**
     * Allocates the per-row companion of ff.net.2 on the source weight's device in {@code manager} and computes it
     * ({@link #refresh}): W as e4m3 (N, K) with per-output-feature scales (N), the source's fp16 bias as it is.
     *
     * @param source the linear layer (weight (N, K) fp16, bias (N) or null), its input the GEGLU gate's output
     * @param manager the long-lived owner (the model's parameters' manager)
     */
    Fp8Linear(LinearLayer source, NDManager manager) {
        this.source = source;
        this.norm = null;
        Shape ws = source.weight.getShape();
        Device device = source.weight.getDevice();
        this.weight = manager.zeros(ws, DataType.UINT8, device);
        this.scales = manager.zeros(new Shape(ws.get(0)), DataType.FLOAT32, device);
        this.bias = source.bias;
        this.inputScale = 0;
        this.outScales = null;
        refresh();
    }

    /** Whether this is a per-row companion (ff.net.2's: no norm, per-output-feature weight scales). */
    boolean perRow() {
        return norm == null;
    }

    /**
     * Whether a layer over {@code c} input features gets an FP8 companion: an fp16 model on CUDA, {@code c} a multiple of
     * 16 (cuBLASLt's FP8 wants 16-byte rows), and FP8 linears on ({@link NativeOps#fp8Linears()}: the library, {@code
     * SD_FP8_LINEARS} not 0, compute capability 8.9+; asked last, so a CPU model never asks the library).
     */
    static boolean fits(DataType dtype, Device device, long c) {
        return fits(dtype, device, c, NativeOps::fp8Linears);
    }

    /** {@link #fits(DataType, Device, long)}'s rule, with whether FP8 linears are on asked last. */
    static boolean fits(DataType dtype, Device device, long c, java.util.function.BooleanSupplier fp8Linears) {
        return dtype == DataType.FLOAT16 && device.isGpu() && c % 16 == 0 && fp8Linears.getAsBoolean();
    }

    /**
     * s_x for rows of {@code c} features: the largest power of two with {@code s_x·√c ≤ 448}, so that {@code x̂·s_x}
     * never saturates ({@code |x̂| ≤ √(c−1)} for a normalised row) and small values keep most of e4m3's normal range: 16
     * for c = 320 and 640, 8 for 1280 up to 3136.
     *
     * @throws IllegalArgumentException for c below 1
     */
    public static double inputScale(long c) {
        if (c < 1) {
            throw new IllegalArgumentException("features: " + c);
        }
        double root = Math.sqrt(c);
        double s = 1;
        while (2 * s * root <= E4M3_MAX) {
            s *= 2;
        }
        while (s * root > E4M3_MAX) {
            s /= 2;
        }
        return s;
    }

    /**
     * The LayerNorm's affine folded into the linear layer after it, in float32: {@code W' = W·diag(γ)} (each column k
     * times γ_k) and {@code b' = b + W·β}, so that {@code (x̂∘γ + β)·Wᵀ + b = x̂·W'ᵀ + b'}.
     *
     * @param w the weight (N, K), any float type
     * @param b the bias (N), or null
     * @param gamma γ (K)
     * @param beta β (K)
     * @return {W' (N, K), b' (N)}, float32, on w's manager
     */
    public static NDArray[] fold(NDArray w, NDArray b, NDArray gamma, NDArray beta) {
        NDArray w32 = w.toType(DataType.FLOAT32, true);
        NDArray folded = w32.mul(gamma.toType(DataType.FLOAT32, false));
        NDArray foldedBias = w32.matMul(beta.toType(DataType.FLOAT32, false).reshape(-1, 1)).reshape(-1);
        if (b != null) {
            foldedBias = foldedBias.add(b.toType(DataType.FLOAT32, false));
        }
        return new NDArray[] {folded, foldedBias};
    }

    /**
     * Recomputes W'_fp8, s_w and b' from the fp16 weight, bias and the norm's γ and β as they are now, in place (on the
     * device, no sync): after LoRA patches change any of them. A {@link #perRow} companion: W_fp8 and its per-row scales
     * ({@link #writeRows}; its bias is the source's own).
     */
    void refresh() {
        if (perRow()) {
            writeRows(source.weight, weight, scales);
            return;
        }
        try (NDManager tmp = weight.getManager().newSubManager()) {
            for (NDArray a : new NDArray[] {source.weight, source.bias, norm.gamma, norm.beta}) {
                if (a != null) {
                    tmp.tempAttachAll(a);
                }
            }
            write(source.weight, source.bias, norm.gamma, norm.beta, inputScale, weight, scales, bias, outScales);
        }
    }

    /**
     * Writes an FP8 companion's buffers in place (on the device, no sync; the kernel self-check calls it as {@link
     * #refresh} does): {@link #fold}, then W'_fp8 = e4m3(W'/s_w) with s_w = amax|W'|/448 and {@code scales} holding s_w
     * at 0 and 1/inputScale at {@link #INPUT_SCALE_SLOT} ({@link NativeOps#fp8Quantize}), and {@code bias8 = b'} in fp16. Needs the library; the
     * temporaries go to w's manager.
     *
     * @param w the fp16 weight (N, K); b its bias (N) or null; gamma, beta the norm's (K)
     * @param inputScale s_x ({@link #inputScale})
     * @param w8 (N, K) UINT8, written
     * @param scales ({@link #SCALE_SLOTS}) float32, written
     * @param bias8 (N) fp16, written
     */
    public static void write(NDArray w, NDArray b, NDArray gamma, NDArray beta, double inputScale, NDArray w8,
            NDArray scales, NDArray bias8) {
        write(w, b, gamma, beta, inputScale, w8, scales, bias8, null);
    }

    /**
     * {@link #write(NDArray, NDArray, NDArray, NDArray, double, NDArray, NDArray, NDArray)}, and where {@code outScales}
     * is not null, the static output scale of the same folded weight and bias into it ({@link #outputScales}; on the
     * device, no sync).
     *
     * @param outScales ({@link #SCALE_SLOTS}) float32, written, or null
     */
    public static void write(NDArray w, NDArray b, NDArray gamma, NDArray beta, double inputScale, NDArray w8,
            NDArray scales, NDArray bias8, NDArray outScales) {
        NDArray[] f = fold(w, b, gamma, beta);
        NativeOps.fp8Quantize(NativeOps.h(f[0]), NativeOps.h(w8), NativeOps.h(scales), 1 / inputScale);
        NativeOps.copyInto(NativeOps.h(bias8), NativeOps.h(f[1]));
        if (outScales != null) {
            NativeOps.copyInto(NativeOps.h(outScales), NativeOps.h(outputScales(f[0], f[1], inputScale)));
        }
    }

    /** e4m3's largest relative rounding error in its normal range (3 mantissa bits, round to nearest): 2^-4. */
    static final double E4M3_RELATIVE = 1.0 / 16;
    /** e4m3's largest absolute rounding error in its subnormal range (steps of 2^-9, round to nearest): 2^-10. */
    static final double E4M3_SUBNORMAL = Math.scalb(1.0, -10);
    /**
     * The bound's factor for what it does not model exactly: float32 arithmetic (the norm's, the fold's, this bound's),
     * fp16's rounding of b', and cuBLASLt's fast FP8 accumulation (its narrower accumulator's error is far below this
     * for the products' K). The bound does not rely on the output conversion saturating: no value is expected beyond 448.
     */
    static final double OUTPUT_BOUND_SLACK = 1 + 1.0 / 64;
    /** The least bound taken (an all-zero weight and bias): s_y at most 448 · 2^100 / 448, finite with its inverse. */
    static final double MIN_OUTPUT_BOUND = Fp8Linear.E4M3_MAX * Math.scalb(1.0, -100);

    /**
     * The largest |y_j| of the product {@code y = x̂_fp8·W'_deqᵀ + b'} over every normalised input, bounded per output
     * feature j (Cauchy–Schwarz): {@code |y_j| ≤ ‖W'_deq,j‖₂·‖x̂_fp8‖₂ + |b'_j|}, where
     * <ul>
     * <li>{@code ‖x̂‖₂ ≤ √K} for LayerNorm's x̂ = (x − mean)·rstd (Σ x̂² = K·var/(var + ε)), and its e4m3 rounding
     * (x̂·s_x rounded, divided by s_x) moves each value by at most |x̂|/16 or 2^-10/s_x, so {@code ‖x̂_fp8‖₂ ≤ √K·(1 +
     * 1/16 + 2^-10/s_x)};</li>
     * <li>W' rounds the same way at the scale s_w = amax|W'|/448 ({@link NativeOps#fp8Quantize}), so {@code
     * ‖W'_deq,j‖₂ ≤ ‖W'_j‖₂·(1 + 1/16) + s_w·2^-10·√K};</li>
     * </ul>
     * each bound times {@link #OUTPUT_BOUND_SLACK}. Float32, on {@code folded}'s manager and device.
     *
     * @param folded W' (N, K) float32 (the folded weight, {@link #fold})
     * @param foldedBias b' (N) float32, or null
     * @param inputScale s_x ({@link #inputScale})
     * @return the bound per output feature (N)
     */
    public static NDArray outputBounds(NDArray folded, NDArray foldedBias, double inputScale) {
        long k = folded.getShape().get(1);
        double rootK = Math.sqrt(k);
        double xNorm = rootK * (1 + E4M3_RELATIVE + E4M3_SUBNORMAL / inputScale);
        NDArray sw = div(folded.abs().max(), (float) E4M3_MAX);
        NDArray wNorm = mul(folded.square().sum(new int[] {1}).sqrt(), (float) (1 + E4M3_RELATIVE))
                .add(mul(sw, (float) (E4M3_SUBNORMAL * rootK)));
        NDArray bound = mul(wNorm, (float) xNorm);
        if (foldedBias != null) {
            bound = bound.add(foldedBias.abs());
        }
        return mul(bound, (float) OUTPUT_BOUND_SLACK);
    }

    /**
     * The static output scale of an e4m3 product ({@code SD_FP8_GEGLU}): s_y = 448 / max_j {@link #outputBounds} (the
     * bound at least {@link #MIN_OUTPUT_BOUND}), as cuBLASLt's D scale wants it, so that {@code s_y·|y_j| ≤ 448} for
     * every normalised input. Float32 ({@link #SCALE_SLOTS}): s_y at 0 and 1/s_y at {@link #INPUT_SCALE_SLOT} (float32
     * divisions), zeros elsewhere; on {@code folded}'s manager and device.
     *
     * @param folded W' (N, K) float32; foldedBias b' (N) float32 or null; inputScale s_x
     */
    public static NDArray outputScales(NDArray folded, NDArray foldedBias, double inputScale) {
        NDArray most = outputBounds(folded, foldedBias, inputScale).max().reshape(1);
        most = maximum(most, (float) MIN_OUTPUT_BOUND);
        NDArray sy = mul(most.onesLike(), (float) E4M3_MAX).div(most);
        NDArray inv = sy.onesLike().div(sy);
        NDArray pad = sy.zerosLike().repeat(INPUT_SCALE_SLOT - 1);
        NDArray tail = sy.zerosLike().repeat(SCALE_SLOTS - INPUT_SCALE_SLOT - 1);
        return NDArrays.concat(new NDList(sy, pad, inv, tail));
    }

    /**
     * Writes a per-row companion's buffers in place (on the device, no sync; the kernel self-check calls it as {@link
     * #refresh} does): W_fp8 = e4m3(W / s_w) row by row with {@code s_w[n] = amax|W[n, :]|/448} in {@code scales}
     * ({@link NativeOps#fp8QuantizeRows}). Needs the library.
     *
     * @param w the weight (N, K), any float type
     * @param w8 (N, K) UINT8, written
     * @param scales (N) float32, written
     */
    public static void writeRows(NDArray w, NDArray w8, NDArray scales) {
        NativeOps.fp8QuantizeRows(NativeOps.h(w), NativeOps.h(w8), NativeOps.h(scales));
    }
}
