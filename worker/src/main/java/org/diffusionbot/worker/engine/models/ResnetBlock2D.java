package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.div;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.List;
import java.util.function.BiPredicate;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * diffusers {@code ResnetBlock2D}: GroupNorm, SiLU, conv, (+ time embedding), GroupNorm, SiLU, conv, + shortcut. In the
 * UNet on Hopper both 3x3 convolutions may run in FP8 ({@link #prepareFp8}, {@code SD_FP8_CONV}); the VAE's blocks
 * never get FP8 weights (AutoencoderKL does not ask: its decoder's images are the output itself) and stay fp16.
 */
final class ResnetBlock2D {
    private final GroupNormLayer norm1;
    private final Conv2dLayer conv1;
    private final LinearLayer timeProj;
    private final GroupNormLayer norm2;
    private final Conv2dLayer conv2;
    private final Conv2dLayer shortcut;
    private final double outputScale;
    private final int outChannels;
    /** conv1's and conv2's FP8 companions ({@link #prepareFp8}), or null (both or neither). */
    private Fp8Conv conv1Fp8;
    private Fp8Conv conv2Fp8;

    /** @param tembChannels width of the time embedding, or 0 when the block has none (VAE) */
    ResnetBlock2D(Params p, String prefix, int in, int out, int tembChannels, int groups, double eps, double outputScale) {
        norm1 = new GroupNormLayer(p, prefix + ".norm1", in, groups, eps);
        conv1 = new Conv2dLayer(p, prefix + ".conv1", in, out, 3);
        timeProj = tembChannels > 0 ? new LinearLayer(p, prefix + ".time_emb_proj", tembChannels, out, true) : null;
        norm2 = new GroupNormLayer(p, prefix + ".norm2", out, groups, eps);
        conv2 = new Conv2dLayer(p, prefix + ".conv2", out, out, 3);
        shortcut = in != out ? new Conv2dLayer(p, prefix + ".conv_shortcut", in, out, 1) : null;
        this.outputScale = outputScale;
        this.outChannels = out;
    }

    /**
     * Makes conv1's and conv2's FP8 companions ({@link Fp8Conv}) where they apply and the block lacks them: both
     * convolutions 3x3 (stride 1, padding 1) with channels-last weights (the part's layout: {@code SD_CHANNELS_LAST} not
     * 0; the companions' KRSC rows are views of them and the FP8 path runs channels-last), an fp16 model on CUDA, FP8
     * convolutions on ({@link NativeOps#fp8Conv()}: the library has the kernel, built for this GPU) and both
     * convolutions' channels taken by the kernel ({@link Fp8Conv#fits(DataType, Device, boolean, long, long)}). Both are made
     * before either is kept: where the second throws (e.g. out of memory) the first's buffers are freed and the block
     * keeps none.
     *
     * @return the companions made now (none where they apply not or exist already)
     * @throws RuntimeException from making them (the block then has none)
     */
    List<Fp8Conv> prepareFp8(NDManager manager, DataType dtype, Device device) {
        boolean channelsLast = conv1.channelsLast() && conv2.channelsLast();
        return prepareFp8(manager, (in, out) -> Fp8Conv.fits(dtype, device, channelsLast, in, out), Fp8Conv::write);
    }

    /**
     * {@link #prepareFp8(NDManager, DataType, Device)} with its decision ({@code fits(in, out)}, asked for conv1 and
     * conv2 where both are 3x3 and the block has no companions yet) and its quantiser ({@code writer}) given (tests).
     */
    List<Fp8Conv> prepareFp8(NDManager manager, BiPredicate<Long, Long> fits, Fp8Conv.Writer writer) {
        if (conv2Fp8 != null || !conv1.is3x3Same() || !conv2.is3x3Same()) {
            return List.of();
        }
        long in = conv1.weight().getShape().get(1);
        if (!fits.test(in, (long) outChannels) || !fits.test((long) outChannels, (long) outChannels)) {
            return List.of();
        }
        Fp8Conv c1 = new Fp8Conv(conv1, manager, writer);
        Fp8Conv c2;
        try {
            c2 = new Fp8Conv(conv2, manager, writer);
        } catch (RuntimeException e) {
            c1.close();
            throw e;
        }
        conv1Fp8 = c1;
        conv2Fp8 = c2;
        return List.of(c1, c2);
    }

    /**
     * Recomputes conv1's and conv2's FP8 companions from their fp16 weights as they are now, in place ({@link
     * Fp8Conv#refresh}; the UNet's refresh after LoRA patches calls it); nothing without companions.
     */
    void refreshFp8() {
        if (conv2Fp8 != null) {
            conv1Fp8.refresh();
            conv2Fp8.refresh();
        }
    }

    /** Whether the block has FP8 convolution weights ({@link #prepareFp8}). */
    boolean hasFp8() {
        return conv2Fp8 != null;
    }

    /**
     * Whether {@link #run} takes the FP8 path for this input: the block has FP8 weights, FP8 convolutions are on ({@link
     * NativeOps#fp8Conv()}), conv1's bias and the time embedding may be added inside norm2's kernels ({@link
     * NativeOps#fusedBiasNorm()}: the FP8 path always adds them there, so {@code SD_FUSED_BIAS_NORM=0} sends the block
     * to the fp16 path with the add in conv1's pass) and the kernels take the shapes ({@link
     * NativeOps#fp8ResnetFits(NDArray, NDArray, int, int)}: fp16 channels-last CUDA input, the e4m3 GroupNorms and both
     * FP8 convolutions, and the FP8 convolution not turned off by a failed launch). Asked in this order: a block without
     * FP8 weights (CPU, the VAE, other GPUs) asks nothing of the library.
     */
    boolean fp8Fits(NDArray x, NDArray x2) {
        return conv2Fp8 != null && NativeOps.fp8Conv() && NativeOps.fusedBiasNorm()
                && NativeOps.fp8ResnetFits(x, x2, norm1.groups(), outChannels);
    }

    /**
     * @param x (B, in, H, W)
     * @param tembAct SiLU(time embedding) (B, temb), or null for blocks without time embedding
     */
    NDArray forward(NDArray x, NDArray tembAct) {
        return forward(x, null, tembAct, null);
    }

    /**
     * The block on the channel concatenation of two parts: an up block's input and one of its skip connections, which
     * diffusers' {@code UpBlock2D} and {@code CrossAttnUpBlock2D} concatenate ({@code torch.cat([hidden_states,
     * res_hidden_states], dim=1)}) before each ResNet block. The concatenation is read only by norm1 and conv_shortcut:
     * where {@link #readsParts} says so, both read the parts in place ({@link GroupNormLayer#forwardSiluCat}, {@link
     * Conv2dLayer#forwardCat}) and the concatenation is never made; otherwise (CPU, plain DJL, no shortcut, {@code
     * SD_UPBLOCK_NO_CAT=0}, parts our kernels do not read in place) this is {@code forward(x1.concat(x2, 1), tembAct)}.
     *
     * @param x1 (B, C1, H, W)
     * @param x2 (B, C2, H, W), C1 + C2 = in
     * @param tembAct SiLU(time embedding) (B, temb), or null for blocks without time embedding
     * @return (B, out, H, W), attached to x1's manager
     */
    NDArray forward(NDArray x1, NDArray x2, NDArray tembAct) {
        return forward(x1, x2, tembAct, null);
    }

    /**
     * The block on x, or on the channel concatenation of x and x2 ({@link #forward(NDArray, NDArray, NDArray)}), with
     * its time-embedding projection given or computed here.
     *
     * @param x (B, C1, H, W), or (B, in, H, W) without x2
     * @param x2 (B, C2, H, W) with C1 + C2 = in, or null
     * @param tembAct SiLU(time embedding) (B, temb), read only where {@code t} is null; null for blocks without time
     *     embedding
     * @param t this block's time_emb_proj of tembAct, (B, out) or (1, out) for all samples (the UNet computes every
     *     block's in one call: {@link NativeOps#timeProjections(NDArray, NDArray[], NDArray[])}), or null: the block
     *     projects tembAct itself
     * @return (B, out, H, W), attached to x's manager
     */
    NDArray forward(NDArray x, NDArray x2, NDArray tembAct, NDArray t) {
        if (x2 != null && !readsParts(x, x2)) {
            return forward(x.concat(x2, 1), null, tembAct, t);
        }
        return Ops.scoped(x.getManager(), sub -> run(x, x2, tembAct, t), x, x2, tembAct, t);
    }

    /** The time_emb_proj layer, or null for blocks without time embedding (the VAE's). */
    LinearLayer timeProj() {
        return timeProj;
    }

    /**
     * Whether {@link #forward(NDArray, NDArray, NDArray)} reads the two parts in place: the block has a conv_shortcut
     * (the channels change, as in every up-block ResNet block) and {@link NativeOps#catPartsFit} (the library in use,
     * {@code SD_UPBLOCK_NO_CAT} on, fp16 channels-last CUDA parts that our GroupNorm kernels read in place).
     */
    boolean readsParts(NDArray x1, NDArray x2) {
        return shortcut != null && NativeOps.catPartsFit(x1, x2, norm1.groups());
    }

    /**
     * The block on x, or with x2 on the channel concatenation of x and x2 read in place (readsParts); its time projection
     * given ({@code tProj}) or computed here.
     */
    private NDArray run(NDArray x, NDArray x2, NDArray tembAct, NDArray tProj) {
        // (B, out), added with conv1's bias
        NDArray t = tProj != null ? tProj : timeProj == null ? null : timeProj.forward(tembAct);
        if (fp8Fits(x, x2)) {
            return runFp8(x, x2, t);
        }
        NDArray a = x2 == null ? norm1.forwardSilu(x) : norm1.forwardSiluCat(x, x2);
        // conv1's bias and t added inside norm2's kernels (NativeOps.fusedBiasNorm: SD_FUSED_BIAS_NORM), or in conv1's
        // pass; conv1's output is used by norm2 alone
        NDArray h = NativeOps.fusedBiasNorm() ? norm2.forwardSilu(conv1.forwardWithoutBias(a), conv1.bias(), t)
                : norm2.forwardSilu(conv1.forward(a, t, null));
        NDArray y = conv2.forward(h, null, residual(x, x2)); // the residual added with conv2's bias
        return scaled(y);
    }

    /** The residual conv2 adds: the shortcut's output of x (or of cat([x, x2], 1) read in place), or x itself. */
    private NDArray residual(NDArray x, NDArray x2) {
        return x2 != null ? shortcut.forwardCat(x, x2) : shortcut == null ? x : shortcut.forward(x);
    }

    /** y / output_scale_factor (diffusers' {@code ResnetBlock2D}), y itself where the factor is 1. */
    private NDArray scaled(NDArray y) {
        return outputScale == 1.0 ? y : div(y, outputScale);
    }

    /**
     * {@link #run}'s FP8 path ({@link #fp8Fits}): norm1 + SiLU written as e4m3 (both parts read in place where x2 is
     * given), conv1 as an FP8 convolution without its bias, norm2 + SiLU of conv1's output + conv1's bias + t (added
     * inside the norm's kernels, as SD_FUSED_BIAS_NORM adds them on the fp16 path) written as e4m3, conv2 as an FP8
     * convolution with its bias and the residual (the shortcut's output, or x) in its epilogue.
     */
    private NDArray runFp8(NDArray x, NDArray x2, NDArray t) {
        NDArray a8 = x2 == null ? norm1.forwardSiluE4m3(x) : norm1.forwardSiluCatE4m3(x, x2);
        NDArray h8 = norm2.forwardSiluE4m3(conv1Fp8.forward(a8, null, null), conv1.bias(), t);
        return scaled(conv2Fp8.forward(h8, conv2.bias(), residual(x, x2)));
    }
}
