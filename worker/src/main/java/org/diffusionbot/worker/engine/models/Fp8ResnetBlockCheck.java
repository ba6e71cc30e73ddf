package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.add;
import static org.diffusionbot.worker.engine.Scalars.mul;
import static org.diffusionbot.worker.engine.cuda.KernelSelfCheck.channelsLast;
import static org.diffusionbot.worker.engine.cuda.KernelSelfCheck.relativeError;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Map;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.io.Weights;

/**
 * The end-to-end check of the FP8 ResNet block path as the UNet wires it ({@code KernelSelfCheck}'s FP8 ResNet block
 * case; docs/GPU.md, "What runs on CUDA" 14): a real {@link ResnetBlock2D} built by the loaders' {@link Params} path
 * (fp16, channels-last convolution weights, on the GPU; random weights written through {@link Parameter#add}), its
 * FP8 companions made by {@link ResnetBlock2D#prepareFp8(NDManager, DataType, Device)} and its public forward run with
 * {@link NativeOps#FP8_CONV} on and off (the switch restored after). Then a LoRA-like patch: conv1's and conv2's
 * weights changed in place ({@link Parameter#add}, as LoRA patches change them), the companions recomputed as the
 * UNet's refresh after a patch recomputes them ({@link ResnetBlock2D#refreshFp8}), and both paths run again. Needs the
 * library and a CUDA device.
 */
public final class Fp8ResnetBlockCheck {
    /** The time embedding's width (SD 1.x/2.x: 1280), groups and eps of the UNet's ResNet blocks. */
    private static final int TEMB = 1280;
    private static final int GROUPS = 32;
    private static final double EPS = 1e-5;

    /**
     * What one run found; the relative errors are ‖a − b‖/‖b‖ of the fp16 outputs in float32.
     *
     * @param skipped why the FP8 path was not checked (the FP8 convolutions off or unsupported here, no companions
     *     made, or the block's input not taken), else null (then the rest is set)
     * @param fp8VsFp16 the block's output with FP8 on against FP8 off
     * @param tookFp8After whether the block still takes the FP8 path after its runs (false: a launch failed and the
     *     library turned the FP8 convolution off: its log says why)
     * @param patchedFp8VsFp16 after the patch and the refresh: FP8 on against FP8 off
     * @param patchedChange after the patch and the refresh, the FP8 output against the FP8 output before the patch (a
     *     companion not refreshed gives the old output: ~0)
     */
    public record Result(String skipped, double fp8VsFp16, boolean tookFp8After, double patchedFp8VsFp16,
            double patchedChange) {
    }

    private Fp8ResnetBlockCheck() {
    }

    /**
     * Builds a block of {@code c1 + c2} input channels (two parts, read as an up block's concatenation, where c2 &gt; 0;
     * a conv_shortcut wherever c1 + c2 differs from cout) to cout channels and runs the check at (batch, ·, h, w).
     *
     * @param gpu the CUDA device
     * @param seedScale the spread of the random weights' patch relative to the weights (1: a change as large as them)
     * @return the findings; the block's arrays are freed
     */
    public static Result run(Device gpu, long batch, int c1, int c2, int cout, int h, int w, double seedScale) {
        String off = NativeOps.fp8ConvUnsupported();
        if (off != null) {
            return skipped(off);
        }
        if (!NativeOps.fusedBiasNorm()) {
            return skipped("SD_FUSED_BIAS_NORM=0 (the FP8 path adds conv1's bias inside norm2: the blocks run fp16)");
        }
        boolean was = NativeOps.FP8_CONV.on();
        try (NDManager m = NDManager.newBaseManager(gpu); Weights none = Weights.of("random", Map.of())) {
            Params p = new Params(none, m, DataType.FLOAT16, gpu, true);
            ResnetBlock2D block = new ResnetBlock2D(p, "check", c1 + c2, cout, TEMB, GROUPS, EPS, 1.0);
            NamedParameters named = p.named();
            for (Parameter q : named.all().values()) {
                q.add(random(m, q.name(), q.shape()));
            }
            NDArray x1 = channelsLast(m, new Shape(batch, c1, h, w), 0.5f, 2f);
            NDArray x2 = c2 > 0 ? channelsLast(m, new Shape(batch, c2, h, w), -0.5f, 1f) : null;
            NDArray temb = m.randomNormal(new Shape(batch, TEMB)).toType(DataType.FLOAT16, false);

            NativeOps.FP8_CONV.set(true);
            if (block.prepareFp8(m, DataType.FLOAT16, gpu).isEmpty() || !block.hasFp8()) {
                return skipped("no FP8 companions made for " + (c1 + c2) + " -> " + cout + " channels");
            }
            if (!block.fp8Fits(x1, x2)) {
                return skipped("the FP8 path does not take this input (NativeOps.fp8ResnetFits)");
            }
            NDArray y8 = forward(block, x1, x2, temb, true);
            NDArray y16 = forward(block, x1, x2, temb, false);
            NativeOps.FP8_CONV.set(true);
            boolean still = block.fp8Fits(x1, x2);

            // a LoRA-like patch of conv1 and conv2, in place, then the refresh the UNet runs after patches
            for (String conv : new String[] {"check.conv1.weight", "check.conv2.weight"}) {
                Parameter q = named.get(conv);
                q.add(mul(random(m, conv, q.shape()), (float) seedScale));
            }
            block.refreshFp8();
            NDArray z8 = forward(block, x1, x2, temb, true);
            NDArray z16 = forward(block, x1, x2, temb, false);
            return new Result(null, relativeError(y8, y16), still, relativeError(z8, z16), relativeError(z8, y8));
        } finally {
            NativeOps.FP8_CONV.set(was);
        }
    }

    private static Result skipped(String why) {
        return new Result(why, Double.NaN, false, Double.NaN, Double.NaN);
    }

    /** The block's public forward with FP8 convolutions switched on or off (the inputs kept: copies are passed). */
    private static NDArray forward(ResnetBlock2D block, NDArray x1, NDArray x2, NDArray temb, boolean fp8) {
        NativeOps.FP8_CONV.set(fp8);
        NDArray a = NativeOps.toChannelsLast(x1.duplicate());
        return x2 == null ? block.forward(a, temb)
                : block.forward(a, NativeOps.toChannelsLast(x2.duplicate()), temb);
    }

    /**
     * A random value (or patch) for parameter {@code name}: norms' weights 1 + 0.3·N (patches: their spread), biases
     * 0.1·N, weights N/√fan-in (a (out, in, k, k) or (out, in) weight), in float32 (Parameter.add converts).
     */
    private static NDArray random(NDManager m, String name, Shape s) {
        NDArray n = m.randomNormal(s);
        if (name.contains("norm") && name.endsWith(".weight")) {
            return add(mul(n, 0.3f), 1f);
        }
        if (name.endsWith(".bias") || s.dimension() < 2) {
            return mul(n, 0.1f);
        }
        long fanIn = s.size() / s.get(0);
        return mul(n, (float) (1 / Math.sqrt(fanIn)));
    }
}
