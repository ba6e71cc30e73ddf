package org.diffusionbot.worker.engine.models;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.function.BiPredicate;
import java.util.function.BooleanSupplier;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * The FP8 companion of a UNet ResNet block's 3x3 convolution (conv1, conv2; {@code SD_FP8_CONV}, {@link
 * NativeOps#FP8_CONV}), whose input is a GroupNorm + SiLU's output written as e4m3 by the norm's kernels ({@link
 * NativeOps#groupNormSiluE4m3}), so that the convolution runs on Hopper's FP8 tensor cores ({@link
 * NativeOps#conv3x3Fp8(NDArray, NDArray, NDArray, NDArray, NDArray)}, conv_fp8.cu).
 *
 * <p>The math: the norm writes {@code x8 = e4m3(x·s_x)} with the static {@link #INPUT_SCALE} s_x = 1 (a power of two:
 * SiLU(GroupNorm) outputs lie within e4m3's ±448 and its subnormals reach 2^-9; group_norm_nhwc.cu's header); the
 * weight W (K, C, 3, 3) is stored as {@code w8 = e4m3(W/s_w[k])} per output channel k with {@code s_w[k] =
 * amax|W[k]|/448} (PyTorch's conversion, round to nearest even), in KRSC order (K rows of 9C bytes: tap (r, s) outer,
 * channel inner, as the kernel reads them); and the kernel scales each output channel's fp32 sum by {@code descale[k]
 * = s_w[k]/s_x}: {@code y = descale[k]·Σ x8·w8 + bias + residual}, rounded once to fp16. What is lost is e4m3's
 * 3-bit mantissa on both operands (relative steps of 1/16) against fp16's 10 bits; the products themselves are exact
 * and summed in fp32. The per-output-channel weight scale is the rule of {@link Fp8Linear}'s per-row companions (the
 * same quantiser, {@link NativeOps#fp8QuantizeRows}: a (K, C, 3, 3) weight in KRSC order is K rows of 9C values).
 *
 * <p>The fp16 weight stays (the fallback, the VAE, CPU runs, LoRA patches); {@link #refresh} recomputes this companion
 * from it in place (the same device buffers, which captured CUDA graphs read) at the first UNet call after LoRA patches
 * or restores ({@code UNet2DConditionModel.markFp8Stale} and {@code refreshFp8IfStale}), as the FP8 linears'.
 */
public final class Fp8Conv implements AutoCloseable {
    /** What writes a companion's buffers from the fp16 weight ({@link #write}; tests give their own). */
    @FunctionalInterface
    interface Writer {
        /** Writes w8 (K, 9C) and descale (K) from the weight w (K, C, 3, 3), in place. */
        void write(NDArray w, NDArray w8, NDArray descale);
    }


    /**
     * s_x, the static scale of the FP8 convolutions' e4m3 inputs (the GroupNorm kernels write e4m3(SiLU(...)·s_x); they
     * take no scale: 1 is built in). A power of two, so descale = s_w/s_x is exact.
     */
    public static final double INPUT_SCALE = 1;

    private final Conv2dLayer source;
    private final Writer writer;
    /** W as e4m3 bytes (K, 9C) in KRSC order, DJL's UINT8. */
    final NDArray weight;
    /** descale[k] = s_w[k]/s_x (K), float32. */
    final NDArray descale;

    /**
     * Allocates the companion on the source weight's device in {@code manager} and computes it ({@link #refresh}).
     *
     * @param source a 3x3 convolution, stride 1, padding 1 (weight (K, C, 3, 3) fp16)
     * @param manager the long-lived owner (the model's parameters' manager)
     * @throws IllegalArgumentException for another kind of convolution
     */
    Fp8Conv(Conv2dLayer source, NDManager manager) {
        this(source, manager, Fp8Conv::write);
    }

    /**
     * {@link #Fp8Conv(Conv2dLayer, NDManager)} with its buffers written by {@code writer}. Where the first write throws
     * (e.g. out of memory), the buffers allocated here are closed before the exception leaves.
     */
    Fp8Conv(Conv2dLayer source, NDManager manager, Writer writer) {
        if (!source.is3x3Same()) {
            throw new IllegalArgumentException("FP8 convolutions are 3x3, stride 1, padding 1: " + source.weight().getShape());
        }
        this.source = source;
        this.writer = writer;
        Shape ws = source.weight().getShape();
        Device device = source.weight().getDevice();
        this.weight = manager.zeros(new Shape(ws.get(0), 9 * ws.get(1)), DataType.UINT8, device);
        NDArray d = null;
        try {
            d = manager.zeros(new Shape(ws.get(0)), DataType.FLOAT32, device);
            this.descale = d;
            refresh();
        } catch (RuntimeException e) {
            weight.close();
            if (d != null) {
                d.close();
            }
            throw e;
        }
    }

    /** The device bytes the companion holds: K·9C e4m3 weights and K float32 descales. */
    long bytes() {
        return weight.size() + 4 * descale.size();
    }

    /** Frees the companion's device buffers (a block that could not make both: {@code ResnetBlock2D.prepareFp8}). */
    @Override
    public void close() {
        weight.close();
        descale.close();
    }

    /**
     * Whether a 3x3 convolution of {@code in} → {@code out} channels gets an FP8 companion: an fp16 model on CUDA whose
     * convolution weights are channels-last ({@code channelsLast}: the part's layout, {@code SD_CHANNELS_LAST} not 0),
     * FP8 convolutions on ({@code on}: {@link NativeOps#fp8Conv()}: the library has the kernel, compute capability 9.0,
     * a library built for sm_90a, {@code SD_FP8_CONV} not 0) and the kernel takes these channels ({@code channels}:
     * {@link NativeOps#conv3x3Fp8Supported} at SD 1.5's 64x64 level, i.e. in a multiple of 64, out of 160). The
     * library is asked last, so a CPU or NCHW model never asks it.
     */
    static boolean fits(DataType dtype, Device device, boolean channelsLast, long in, long out, BooleanSupplier on,
            BiPredicate<Long, Long> channels) {
        return dtype == DataType.FLOAT16 && device.isGpu() && channelsLast && on.getAsBoolean()
                && channels.test(in, out);
    }

    /** {@link #fits(DataType, Device, boolean, long, long, BooleanSupplier, BiPredicate)} as it runs. */
    static boolean fits(DataType dtype, Device device, boolean channelsLast, long in, long out) {
        return fits(dtype, device, channelsLast, in, out, NativeOps::fp8Conv,
                (c, k) -> NativeOps.conv3x3Fp8Supported(1, 64, 64, c, k));
    }

    /** Recomputes w8 and descale from the fp16 weight as it is now, in place (on the device, no sync). */
    void refresh() {
        writer.write(source.weight(), weight, descale);
    }

    /**
     * y = the FP8 convolution of x8 ({@link NativeOps#conv3x3Fp8(NDArray, NDArray, NDArray, NDArray, NDArray)}).
     *
     * @param x8 e4m3 bytes (B, H, W, C) ({@link GroupNormLayer#forwardSiluE4m3})
     * @param bias (K) fp16, or null
     * @param residual (B, K, H, W) fp16 channels-last, or null
     * @return (B, K, H, W) fp16 channels-last, attached to x8's manager
     */
    NDArray forward(NDArray x8, NDArray bias, NDArray residual) {
        return NativeOps.conv3x3Fp8(x8, weight, descale, bias, residual);
    }

    /**
     * Writes an FP8 convolution companion's buffers in place (on the device, no sync; the kernel self-check calls it as
     * {@link #refresh} does): the weight's (K, 9C) rows in KRSC order (a view of a channels-last weight, a copy of an
     * NCHW one), {@code w8 = e4m3(row/s_w[k])} and {@code descale = s_w} with {@code s_w[k] = amax|row k|/448} ({@link
     * NativeOps#fp8QuantizeRows}): that is s_w/s_x, {@link #INPUT_SCALE} s_x being 1, built into the norm kernels.
     * Needs the library; the temporaries are closed here.
     *
     * @param w the weight (K, C, 3, 3), any float type and layout
     * @param w8 (K, 9C) UINT8, contiguous, written
     * @param descale (K) float32, written
     */
    public static void write(NDArray w, NDArray w8, NDArray descale) {
        long k = w.getShape().get(0);
        try (NDManager tmp = w8.getManager().newSubManager()) {
            tmp.tempAttachAll(w);
            NDArray rows = w.transpose(0, 2, 3, 1).reshape(k, -1);
            NativeOps.fp8QuantizeRows(NativeOps.h(rows), NativeOps.h(w8), NativeOps.h(descale)); // descale = s_w / 1
        }
    }
}
