package org.diffusionbot.worker.engine.cuda;

import static org.diffusionbot.worker.engine.Scalars.add;
import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.gte;
import static org.diffusionbot.worker.engine.Scalars.minimum;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.norm.LayerNorm;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Supplier;
import org.diffusionbot.worker.engine.models.Fp8Conv;
import org.diffusionbot.worker.engine.models.Fp8ResnetBlockCheck;
import org.diffusionbot.worker.engine.models.Fp8Linear;

/**
 * Our CUDA kernels (worker/src/main/native: the NHWC GroupNorm(+SiLU) kernels, the one-pass GEGLU gate, the
 * NHWC bias + time embedding + residual add, the LayerNorm and residual add + LayerNorm kernel, 1x1 convolutions
 * as matrix products, linear layers with their residual add in one cuBLASLt product, the up blocks' GroupNorm
 * and conv_shortcut on two parts without their concatenation, the plain linears' autotuned cuBLASLt products and
 * every candidate algorithm, the ResNet blocks' time-embedding projections in one launch, the attention entries with the
 * residual added by their output projection, the cross-attention entries that take a prompt K|V, the wide-head
 * attention of the VAE's mid-block (plain products + softmax), and on Hopper the head-size-40 self- and cross-attention
 * kernels) against PyTorch on
 * the same GPU: each kernel's fp16 result and PyTorch's own fp16 result are compared with PyTorch in fp32 on the same
 * fp16 inputs; the FP8 linears (LayerNorm with FP8 output + cuBLASLt FP8 product) against the fp16 path by relative
 * error, and so ff.net.2's FP8 product of the GEGLU gate's FP8 output; the nearest 2x upsampling kernel, a copy,
 * against DJL's interpolation bit for bit. {@code worker.jar doctor} runs the small shapes ({@link #QUICK}), {@code
 * worker.jar bench --check} those of SD 1.5 ({@link #SD15}). Needs the native library and a CUDA device.
 *
 * @param groupNorm (B, C, H, W) shapes for GroupNorm (32 groups: C a multiple of 32), each run with mean 0 and
 *                  mean 40 (spread 2), with and without SiLU; our kernels with {@code SD_GROUP_NORM_ONE_PASS} on (one
 *                  launch for the shapes of {@link #oneLaunchGroupNorm}, three for the others) and off (three), where
 *                  the library has the switch (a case fails if the path is not the expected one)
 * @param geglu     (rows, 2I) shapes for the GEGLU gate (I a multiple of 8 takes the vectorised path)
 * @param biasAdd   (B, C, H, W) shapes for the bias add of a convolution's output, each run with the bias
 *                  alone, bias + per-sample bias (B rows, or one row for all), and bias + residual
 * @param layerNorm (rows, C) shapes for LayerNorm over C (C a multiple of 8 up to 2048 takes our kernel), each run
 *                  with mean 0 and mean 40 (spread 2), alone and after a residual add
 * @param biasGroupNorm (B, C, H, W, groups) shapes for GroupNorm + SiLU of x + bias + per-sample bias (a ResNet
 *                  block's conv1 output without its bias, and its time embedding), each run with mean 0 and mean 40
 *                  (spread 2), with a per-sample bias (B rows), one row for all, and the bias alone (the VAE's
 *                  blocks), channels-last (our kernels, with {@code SD_GROUP_NORM_ONE_PASS} on and off as in {@code
 *                  groupNorm}) and row-major (the fallback: PyTorch's adds and group_norm)
 * @param conv1x1   (B, Cin, H, W, Cout) shapes for 1x1 convolutions of channels-last fp16 inputs, the matrix-product
 *                  path against cuDNN's convolution ({@code NativeOps.conv2d} with {@code SD_CONV1X1_GEMM} on and
 *                  off), each run with the bias alone (in the product's epilogue) and bias + residual (added by the
 *                  product itself where {@code SD_LT_RESIDUAL}'s cuBLASLt call applies, else bias_add's pass); the
 *                  oracle is the fp32 matrix product (not cuDNN's fp32 convolution, which may run in TF32)
 * @param linearResidual (B, T, K, N) shapes for a linear layer and its residual add, {@code x·wᵀ + b + r} with x
 *                  (B, T, K), w (N, K), r (B, T, N): the one cuBLASLt product ({@code NativeOps.linearResidual}) against
 *                  {@code at::linear} + add ({@code SD_LT_RESIDUAL} on and off), each run with and without the bias;
 *                  K and N multiples of 8 must take the cuBLASLt product, other shapes the fallback (a case fails if
 *                  the path is not the expected one); the oracle is the fp32 product + bias + residual. Where the
 *                  library has {@code SD_LT_AUTOTUNE}, also the plain linear {@code x·wᵀ + b} ({@code
 *                  NativeOps.linear}) with it on (cuBLASLt, the algorithm tuned for the shape) against {@code
 *                  at::linear} (off), and every candidate algorithm autotuning chooses from ({@code
 *                  NativeOps.linearCandidates}), with and without the residual, each within the same bounds of the
 *                  oracle
 * @param catGroupNorm (B, C1, C2, H, W, groups) shapes for GroupNorm (+ SiLU) of the channel concatenation of two
 *                  channels-last parts (an up block's input and skip connection), {@code NativeOps.catGroupNorm} against
 *                  the concatenation normalised by {@code NativeOps.groupNorm}: bit for bit equal (max diff 0), and read
 *                  in place exactly where expected (C1 and C2 multiples of 8: {@code NativeOps.catPartsFit}); each run
 *                  with mean 0 and mean 40 (spread 2), with and without SiLU, with {@code SD_GROUP_NORM_ONE_PASS} on
 *                  and off as in {@code groupNorm} (both the parts' and the concatenation's GroupNorm)
 * @param catConv1x1 (B, C1, C2, H, W, Cout) shapes for a 1x1 convolution (an up block's conv_shortcut) of the channel
 *                  concatenation of two channels-last parts, {@code NativeOps.catConv1x1} (two products) against the
 *                  concatenation's one product ({@code NativeOps.conv2d}), before and after an in-place change of the
 *                  weight (as a LoRA patch adds one); oracle: the fp32 product
 * @param upsample  (B, C, H, W, h, w, bits, channelsLast) cases for nearest-neighbour resizing of (B, C, H, W) to
 *                  (B, C, h, w), fp16 (bits 16) or float32 (32), channels-last (1) or row-major (0) input, against
 *                  DJL's interpolation ({@code at::upsample_nearest2d}, what ran before): the values must be equal bit
 *                  for bit (max diff 0) and the layout the same; h = 2H, w = 2W of a channels-last input with C · element
 *                  size a multiple of 16 bytes must take our kernel, every other case the fallback (a case fails if
 *                  the path is not the expected one)
 * @param fp8Linear (rows, C, N) shapes for the FP8 linears (docs/GPU.md, "What runs on CUDA" 8): LayerNorm with FP8
 *                  output + the FP8 product of the folded weight against our fp16 LayerNorm + the fp16 linear ({@code
 *                  NativeOps.linear}: {@code at::linear}, or cuBLASLt with {@code SD_LT_AUTOTUNE}), alone and after a
 *                  residual add, relative error ‖Δ‖/‖ref‖ below {@link #FP8_MAX_RELATIVE} (with the add, also
 *                  after an in-place change of the weight and γ rewritten into the same buffers by {@code
 *                  Fp8Linear.write}, as a LoRA patch's refresh does); the kernel's FP8
 *                  values against PyTorch's conversion of (x − mean)·rstd·s_x (at most one e4m3 step apart); and the
 *                  attention or GEGLU entry that N says (3C: self-attention, C: cross-attention, 8C: GEGLU) against its
 *                  fp16 entry. Only where the FP8 path can run (library functions, compute capability 8.9+), whatever
 *                  {@code SD_FP8_LINEARS} says; otherwise "skipped: why"
 * @param fp8FfOut  (rows, I, N) shapes for ff.net.2 as an FP8 product (docs/GPU.md, "What runs on CUDA" 8, {@code
 *                  SD_FP8_FF_OUT}): the GEGLU gate's FP8 output ({@code NativeOps.gegluGateFp8} of an fp16 h (rows, 2I)
 *                  whose rows differ in magnitude by up to 256x, the first all zero) against PyTorch's conversion of
 *                  the fp32 gate times 448/amax of its row, the row's scale amax/448 (both 1 for the zero row; {@link
 *                  #gateFp8Reference}):
 *                  at most one e4m3 step apart, the scales within {@link #FP8_SCALE_MAX_RELATIVE}; the FP8 product with
 *                  per-token and per-feature scales + bias + residual ({@code NativeOps.linearResidualFp8}, the weight
 *                  as {@code Fp8Linear.writeRows} writes it) against the fp16 gate and {@code linear_residual}, relative
 *                  error below {@link #FP8_MAX_RELATIVE}, also after an in-place change of the weight rewritten into
 *                  the same buffers (a LoRA patch's refresh); where I = 4N, the block's FP8 feed-forward entry ({@code
 *                  NativeOps.feedForwardFp8}: FP8 ff.net.0.proj of a LayerNorm's FP8 output, the gate, ff.net.2)
 *                  against the same with the fp16 gate and ff.net.2 ({@code gegluFp8} + {@code linearResidual}), below
 *                  {@link #FP8_MAX_RELATIVE}, its ff.net.2 the FP8 product exactly where the product alone had a
 *                  cuBLASLt algorithm; and where I = 4N and the library has them, the GEGLU intermediate as e4m3
 *                  ({@code SD_FP8_GEGLU}, off unless 1; {@code gegluE4m3} calls the functions directly):
 *                  ff.net.0.proj's e4m3-output product against its fp16-output product of the same FP8 operands times
 *                  s_y, the e4m3 gate against PyTorch's conversion of the fp32 gate of the same values, and the block's
 *                  entry against the fp16 intermediate's. Only
 *                  where the FP8 path can run and the library has the functions, whatever {@code SD_FP8_LINEARS},
 *                  {@code SD_FP8_FF_OUT} and {@code SD_FP8_GEGLU} say; otherwise "skipped: why"
 * @param crossAttention (B, N, heads, d, M) shapes for attention of N queries over M keys (the cross-attentions; docs/GPU.md,
 *                  "What runs on CUDA" 9): q (B, N, heads·d) with the 1/√d scale folded in, k and v the two halves of one
 *                  (B, M, 2·heads·d) projection (strided views, as {@code cross_attention} in sd_native_ops.cc passes
 *                  them), our kernel ({@code NativeOps.crossAttentionCore} with {@code SD_CROSS_ATTENTION_KERNEL} on)
 *                  against SDPA in fp16 (switched off) and the oracle, SDPA in fp32 ({@code SD_VAE_ATTENTION_FP16}
 *                  off): max abs error at most {@link #CROSS_ATTENTION_MAX_ABS} and at most {@link
 *                  #CROSS_ATTENTION_MAX_RATIO} times SDPA's (or one output ulp); d = 40 with M ≤ 128 must take our
 *                  kernel where the library has it for this GPU ({@code NativeOps.selfAttentionKernelBuilt}: compute capability 9.0, built for
 *                  sm_90a), every other case SDPA (a case fails if the path is not the expected one, or the kernel runs
 *                  when switched off)
 * @param selfAttention (B, N, heads, d) shapes for self-attention of N tokens (docs/GPU.md, "What runs on CUDA" 10): q, k
 *                  and v the thirds of one (B, N, 3·heads·d) projection (strided views, as {@code self_attention} in
 *                  sd_native_ops.cc passes them; q's columns with the 1/√d scale folded in), our kernel ({@code
 *                  NativeOps.selfAttentionCore} with {@code SD_SELF_ATTENTION_KERNEL} on) against SDPA in fp16
 *                  (switched off) and the oracle, SDPA in fp32: max abs error at most {@link #CROSS_ATTENTION_MAX_ABS}
 *                  and at most {@link #CROSS_ATTENTION_MAX_RATIO} times SDPA's (or one output ulp); d = 40 with N a
 *                  multiple of 128 must take our kernel where the library has it for this GPU ({@code NativeOps.selfAttentionKernelBuilt}:
 *                  compute capability 9.0, built for sm_90a), every other case SDPA (a case fails if the path is not
 *                  the expected one, or the kernel runs when switched off). These shapes, CLIP's masked
 *                  self-attention and the cross-attention shapes (over a 768-wide context) also check the attention
 *                  entries with the residual added by their output projection ({@code SD_ATTN_RESIDUAL}) against the
 *                  entry + add ({@code attentionResidual}; the FP8 entries' with the FP8 linears)
 * @param timeProj  (B, K, N_1, ..., N_m) cases for the ResNet blocks' time-embedding projections in one launch
 *                  (docs/GPU.md, "What runs on CUDA", {@code SD_TIME_PROJ_KERNEL}): {@code y_i = x·w_iᵀ + b_i} for x
 *                  (B, K), w_i (N_i, K), b_i (N_i) (every third product without a bias), {@code
 *                  NativeOps.timeProjections} against one {@code NativeOps.linear} per product; oracle: the fp32
 *                  products + biases, all products' errors together; before and after an in-place change of the first
 *                  weight (a LoRA patch: the kernel reads the weights where they are). 1 ≤ B ≤ 16, K and every N_i
 *                  multiples of 8 must take our kernel ({@code NativeOps.timeProjectionsKernel}), every other case one
 *                  product each; every output (B, N_i)
 * @param wideAttention (B, N, heads, d, bits, maxScores) cases for the wide-head attention (docs/GPU.md, "What runs on
 *                  CUDA" 13, {@code SD_WIDE_HEAD_ATTENTION}: the VAE's mid-block, one head of 512): q, k and v the
 *                  thirds of one (B, N, 3·heads·d) projection as {@link #selfAttention}'s cases, fp16 (bits 16) or
 *                  float32 (32: SDXL's VAE, converted to fp16 by {@code SD_VAE_ATTENTION_FP16}), the queries in chunks
 *                  of at most maxScores scores ({@code NativeOps.setWideHeadAttentionChunk}; 0: the default, 2^26);
 *                  {@code NativeOps.selfAttentionCore} with the switch on against SDPA (switched off) and the oracle,
 *                  SDPA in fp32: max abs error at most {@link #CROSS_ATTENTION_MAX_ABS} and at most {@link
 *                  #CROSS_ATTENTION_MAX_RATIO} times SDPA's (or one output ulp), the output in the input's type; d
 *                  above 256 must take the wide-head path ({@code NativeOps.wideHeadAttention}), every other case SDPA
 * @param fp8Conv   (B, C1, C2, H, W, K) cases for the UNet's ResNet blocks on the FP8 path (docs/GPU.md, "What runs on
 *                  CUDA", {@code SD_FP8_CONV}): a block of C1 + C2 input channels (C2 = 0: one input; else the two parts
 *                  of an up block's concatenation, read in place) and K output channels at H x W, 32 groups. (a) The
 *                  e4m3 GroupNorm + SiLU outputs ({@code NativeOps.groupNormSiluE4m3}: norm1, and norm2 with conv1's
 *                  bias and a time embedding added in its kernels; {@code catGroupNormSiluE4m3} for two parts) against
 *                  PyTorch's conversion of our fp16 output of the same norm, at most one e4m3 step apart, with {@code
 *                  SD_GROUP_NORM_ONE_PASS} on and off as in {@code groupNorm}, and two parts bit for bit the one-input
 *                  bytes of their concatenation; everywhere the library has the functions. (b) The FP8 3x3 convolution
 *                  ({@code NativeOps.conv3x3Fp8}, the weight as {@code Fp8Conv.write} writes it) of norm1's e4m3 output
 *                  against PyTorch's float32 convolution of the same e4m3 operands dequantised (exact products; TF32,
 *                  where cuDNN takes it, holds e4m3 values exactly; the kernel's FP8 accumulation is what differs)
 *                  times descale, + bias + residual in float32:
 *                  relative error below {@link #FP8_CONV_MAX_RELATIVE}, without bias, with it, and with bias and a
 *                  residual. (c) The whole block's FP8 path (as {@code ResnetBlock2D.runFp8} calls it) against its fp16
 *                  path (as {@code ResnetBlock2D.run} with {@code SD_FUSED_BIAS_NORM}), relative error below {@link
 *                  #FP8_MAX_RELATIVE}. (b) and (c) only where the kernel takes the shape ({@code
 *                  NativeOps.conv3x3Fp8Supported}: Hopper, a library built for sm_90a), whatever {@code SD_FP8_CONV}
 *                  says; otherwise "skipped: why"
 * <p>Also, on the {@code crossAttention} shapes, the cross-attention with its k|v made before (the prompt K|V,
 * docs/GPU.md "What runs on CUDA" 12, {@code SD_PROMPT_KV}: {@code NativeOps.crossAttentionKv}, the k|v a slice of a
 * prompt K|V) against the call that projects the context itself ({@code NativeOps.crossAttention}), bit for bit; and
 * in the FP8 cross-attention entry's case, {@code NativeOps.crossAttentionKvFp8} against {@code
 * NativeOps.crossAttentionFp8}, bit for bit. Where the library has those functions.
 */
public record KernelSelfCheck(long[][] groupNorm, long[][] geglu, long[][] biasAdd, long[][] layerNorm,
        long[][] biasGroupNorm, long[][] conv1x1, long[][] linearResidual, long[][] catGroupNorm, long[][] catConv1x1,
        long[][] upsample, long[][] fp8Linear, long[][] crossAttention, long[][] fp8FfOut, long[][] selfAttention,
        long[][] timeProj, long[][] wideAttention, long[][] fp8Conv) {
    /**
     * The cross- and self-attention kernels' largest absolute error against the fp32 oracle (outputs of magnitude ~1).
     */
    public static final double CROSS_ATTENTION_MAX_ABS = 2e-3;
    /**
     * ... and against SDPA's own fp16 error on the same inputs: at most this many times it, or one unit in the last place
     * of the output's type at the oracle's largest magnitude, whichever is larger ({@link #attentionErrorPasses}).
     */
    public static final double CROSS_ATTENTION_MAX_RATIO = 2.0;
    /**
     * The FP8 product's largest relative error ‖Δ‖/‖ref‖ against the fp16 path: e4m3 rounds each operand by about
     * 2.7% RMS (3 mantissa bits), about 3.8% for a product of two.
     */
    public static final double FP8_MAX_RELATIVE = 0.05;
    /**
     * The FP8 convolution's largest relative error ‖Δ‖/‖ref‖ against PyTorch's float32 convolution of the same e4m3
     * operands: the products are exact, but the kernel sums them in the tensor cores' FP8 accumulation (about 14 bits,
     * as cuBLASLt's fast accumulation; conv_fp8.cu's header): 1.2e-3 (C = 320) to 3.9e-3 (C = 2560) RMS relative in
     * scripts/gpu/probe_conv_fp8.cu, growing as √(9C), plus the output's fp16 rounding (~3e-4). A wrong operand or layout
     * gives errors near 1; e4m3's own quantisation, which this does not see, is ~4%.
     */
    public static final double FP8_CONV_MAX_RELATIVE = 1e-2;
    /** The FP8 gate's per-row scales against PyTorch's amax/448 of the fp32 gate: relative difference at most this. */
    public static final double FP8_SCALE_MAX_RELATIVE = 1e-6;
    /**
     * The same for the attention and GEGLU entries, a check of their wiring (a wrong layout or operand gives errors near
     * 1): attention on random data averages random values, so the output is small and the scores' FP8 error (softmax
     * weights off by several percent each) shows larger relative to it; GEGLU multiplies two rounded halves.
     */
    public static final double FP8_ENTRY_MAX_RELATIVE = 0.25;

    /** SD 1.x/2.x's ResNet blocks' time_emb_proj widths in the order the UNet visits them (down, mid, up): 22. */
    private static final long[] SD15_TIME_PROJ = {320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 1280, 1280,
        1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320};
    /** SDXL's: 17. */
    private static final long[] SDXL_TIME_PROJ = {320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 1280, 640,
        640, 640, 320, 320, 320};

    /** A time-projection case: {b, k, n...}. */
    private static long[] timeProjCase(long b, long k, long... n) {
        long[] c = new long[n.length + 2];
        c[0] = b;
        c[1] = k;
        System.arraycopy(n, 0, c, 2, n.length);
        return c;
    }

    /** {@code count} products of n features each. */
    private static long[] repeat(int count, long n) {
        long[] r = new long[count];
        Arrays.fill(r, n);
        return r;
    }

    /** Shapes of SD 1.5's UNet and VAE, up to 16x2560 channels and 1x128x512x512, and odd ones. */
    public static final KernelSelfCheck SD15 = new KernelSelfCheck(
            // (on an H200, 132 SMs: group_stats with one warp per group, 40 channels, {16, 1280, 8, 8}; two to eight
            // warps; sixteen, {1, 512, 128, 128}: the VAE's 512 channels at 128x128, 261 chunks of 16). One launch
            // (SD_GROUP_NORM_ONE_PASS): the 8x8 and 16x16 levels at 1280 and 2560 channels, batch 2 and 16, 320 and 640
            // channels at 32x32; three: {2, 320, 64, 64}, {16, 960, 32, 32} and larger
            new long[][] {{2, 320, 64, 64}, {16, 1280, 8, 8}, {16, 640, 32, 32}, {1, 128, 512, 512}, {3, 64, 24, 16},
                {2, 2560, 16, 16}, {16, 960, 32, 32}, {1, 512, 128, 128}, {2, 1280, 8, 8}, {2, 2560, 8, 8},
                {16, 2560, 8, 8}, {2, 1280, 16, 16}, {16, 1280, 16, 16}, {16, 2560, 16, 16}, {16, 320, 32, 32}},
            new long[][] {{16 * 4096, 2560}, {16 * 1024, 5120}, {2 * 64, 10240}, {3, 16}},
            new long[][] {{16, 320, 64, 64}, {2, 1280, 32, 32}, {16, 1280, 8, 8}, {1, 128, 512, 512}, {3, 8, 5, 7}},
            new long[][] {{16 * 4096, 320}, {2 * 4096, 640}, {2 * 1024, 1280}, {16 * 256, 1280}, {2 * 77, 768},
                {3, 2048}, {5, 40}, {4, 2056}},
            // (one launch: 8x8 and 16x16 at 1280 and 2560 channels, {2, 640, 32, 32, 32}, 4160 channels (130 a group:
            // 4-byte vectors), one group of 640 channels over 320 threads; three: {16, 320, 64, 64, 32},
            // {1, 512, 64, 64, 32}, 5 channels a group)
            new long[][] {{16, 320, 64, 64, 32}, {16, 1280, 8, 8, 32}, {2, 640, 32, 32, 32}, {1, 512, 64, 64, 32},
                {3, 40, 24, 16, 8}, {2, 4160, 4, 4, 32}, {2, 1280, 8, 8, 32}, {16, 2560, 8, 8, 32},
                {2, 2560, 16, 16, 32}, {16, 1280, 16, 16, 32}, {2, 640, 4, 4, 1}},
            new long[][] {{16, 320, 64, 64, 320}, {2, 640, 32, 32, 1280}, {16, 1280, 8, 8, 1280}, {16, 960, 32, 32, 640},
                {1, 256, 512, 512, 128}, {1, 4, 64, 64, 4}, {3, 40, 5, 7, 24}},
            // ff.net.2 at 64x64 (K 1280 -> 320), SDXL's proj_out at 64x64 (640 -> 640, batch 2), ff.net.2 at 32x32 and
            // 8x8, CLIP's fc2 (3072 -> 768), a small shape that fits, and an odd one that must fall back
            new long[][] {{16, 4096, 1280, 320}, {16, 4096, 320, 320}, {2, 4096, 640, 640}, {16, 1024, 2560, 640},
                {16, 64, 5120, 1280}, {2, 77, 3072, 768}, {3, 5, 40, 24}, {3, 5, 36, 20}},
            // SD 1.5's up blocks at batch 16 (64x64 latents); groups straddle the parts (1280 + 640: 60 channels per
            // group); batch 2's 640 + 320 at 64x64 (on an H200, 128 chunks of 30 channels: group_stats' sixteen warps
            // per group); 1276 + 644 must fall back (C1 not a multiple of 8)
            new long[][] {{16, 1280, 1280, 8, 8, 32}, {16, 1280, 1280, 16, 16, 32}, {16, 1280, 640, 16, 16, 32},
                {16, 1280, 640, 32, 32, 32}, {16, 640, 640, 32, 32, 32}, {16, 640, 320, 32, 32, 32},
                {16, 640, 320, 64, 64, 32}, {16, 320, 320, 64, 64, 32}, {2, 640, 320, 64, 64, 32}, {3, 40, 32, 5, 7, 6},
                {2, 1276, 644, 16, 16, 32}},
            new long[][] {{16, 1280, 640, 32, 32, 640}, {16, 320, 320, 64, 64, 320}, {3, 40, 32, 5, 7, 24},
                {2, 1276, 644, 8, 8, 640}},
            // the UNet's three upsamplers at batch 16, the VAE decoder's (fp16; float32 channels-last, which the kernel
            // copies like any 16-byte vectors though SDXL's float32 VAE runs NCHW; and row-major, that VAE's layout), the
            // smallest vectors (16 bytes: 8 halves, 4 floats); then fallbacks: 8 bytes of channels (C = 4 fp16), 3x, the
            // UNet's odd skip size (10 -> 19), row-major inputs
            new long[][] {{16, 1280, 8, 8, 16, 16, 16, 1}, {16, 1280, 16, 16, 32, 32, 16, 1},
                {16, 640, 32, 32, 64, 64, 16, 1}, {1, 512, 64, 64, 128, 128, 16, 1}, {1, 512, 128, 128, 256, 256, 16, 1},
                {1, 256, 256, 256, 512, 512, 16, 1}, {1, 512, 128, 128, 256, 256, 32, 1}, {3, 8, 5, 7, 10, 14, 16, 1},
                {2, 4, 3, 5, 6, 10, 32, 1},
                {2, 4, 64, 64, 128, 128, 16, 1}, {2, 320, 8, 8, 24, 24, 16, 1}, {2, 1280, 10, 10, 19, 19, 16, 1},
                {1, 512, 64, 64, 128, 128, 16, 0}, {1, 512, 128, 128, 256, 256, 32, 0}},
            // batch 2 at 64x64 latents: attn1's q|k|v (320 -> 960), ff.net.0.proj (320 -> 2560); the 8x8 level's width
            // (attn2's q, 1280 -> 1280) at the same rows
            new long[][] {{2 * 4096, 320, 960}, {2 * 4096, 320, 2560}, {2 * 4096, 1280, 1280}},
            // SD 1.5's 64x64 level (d 40) over the prompt's 77 tokens at batch 16 and 2, one key and 80 keys (the
            // 80-key tile's edges), N not a multiple of 64, 100 and 128 keys (the 128-key tile) with 5 heads; then SD
            // 1.5's other levels (d 80, 160), SDXL's (d 64, 10 heads), 154 keys (a two-chunk prompt) and d 32, which must
            // take SDPA
            new long[][] {{16, 4096, 8, 40, 77}, {2, 4096, 8, 40, 77}, {2, 4096, 8, 40, 1}, {2, 64, 8, 40, 80},
                {2, 1000, 8, 40, 77}, {3, 100, 5, 40, 100}, {2, 256, 8, 40, 128}, {2, 1024, 8, 80, 77},
                {2, 256, 8, 160, 77}, {2, 1024, 10, 64, 77}, {2, 1024, 8, 40, 154}, {2, 256, 8, 32, 77}},
            // ff.net.2 at batch 2: 64x64 latents (1280 -> 320), 32x32 (2560 -> 640: the gate's widest warp-per-row rows),
            // 16x16 (5120 -> 1280: a block per row); then 1288 (161 packs of 8: the warp kernel's last pack of a row
            // in lane 0 alone; K not a multiple of 16, so the product's dequantised fallback)
            new long[][] {{2 * 4096, 1280, 320}, {2 * 1024, 2560, 640}, {2 * 256, 5120, 1280}, {2 * 64, 1288, 320}},
            // self-attention: SD 1.5's 64x64 level at batch 16 and 2, 32x32-sized N at d 40, 3 query blocks of 5 heads;
            // then N not a multiple of 128, SD 1.5's 32x32 level (d 80) and SDXL's (d 64), which must take SDPA
            new long[][] {{16, 4096, 8, 40}, {2, 4096, 8, 40}, {2, 1024, 8, 40}, {3, 384, 5, 40}, {2, 1000, 8, 40},
                {2, 1024, 8, 80}, {2, 1024, 10, 64}},
            // SD 1.5's 22 time projections at batch 1 (one timestep for the batch), 2 and 16 (the kernel's widest
            // rows), SDXL's 17 at batch 3; 70 products (two launches of at most 64); then fallbacks: 17 rows, an N
            // not a multiple of 8, K not a multiple of 8
            new long[][] {timeProjCase(1, 1280, SD15_TIME_PROJ), timeProjCase(2, 1280, SD15_TIME_PROJ),
                timeProjCase(16, 1280, SD15_TIME_PROJ), timeProjCase(3, 1280, SDXL_TIME_PROJ),
                timeProjCase(5, 64, repeat(70, 16)), timeProjCase(17, 1280, 320, 640, 1280),
                timeProjCase(2, 1280, 320, 100, 1280), timeProjCase(2, 36, 320, 640)},
            // wide-head attention: SD 1.5's VAE mid-block at 512x512 (4096 tokens, one head of 512), SDXL's float32 VAE
            // at 1024x1024 (16384 tokens: four chunks of 4096 queries) and at 512x512, 9000 tokens (two chunks: 7424 +
            // 1576), batch 2 with 2 heads of 320 in chunks of 128 queries (a forced limit), 2 heads of 256, which must
            // take SDPA
            new long[][] {{1, 4096, 1, 512, 16, 0}, {1, 16384, 1, 512, 32, 0}, {1, 4096, 1, 512, 32, 0},
                {1, 9000, 1, 512, 16, 0}, {2, 1000, 2, 320, 16, 300_000}, {1, 1024, 2, 256, 16, 0}},
            // FP8 ResNet blocks at batch 2 (64x64 latents): each level's 3x3 convolutions, 64x64 320 -> 320, 32x32 640
            // -> 640, 16x16 1280 -> 1280, 8x8 2560 -> 1280 (up block 0: input 1280 + skip 1280, two parts), 64x64 960
            // -> 320 (up block 3's first: 640 + 320), 32x32 1920 -> 640 (up block 2's first: 1280 + 640); batch 16 at
            // 16x16
            new long[][] {{2, 320, 0, 64, 64, 320}, {2, 640, 0, 32, 32, 640}, {2, 1280, 0, 16, 16, 1280},
                {2, 1280, 1280, 8, 8, 1280}, {2, 640, 320, 64, 64, 320}, {2, 1280, 640, 32, 32, 640},
                {16, 1280, 0, 16, 16, 1280}});
    /** A few small shapes (well under a second): the doctor's check. */
    public static final KernelSelfCheck QUICK = new KernelSelfCheck(
            // group_stats' layouts (as an H200's 132 SMs split the pixels): one warp per group ({2, 320, 16, 16}), four
            // over 16 chunks of 40 channels ({1, 1280, 16, 16}); with SD_GROUP_NORM_ONE_PASS on, one launch for all but
            // {1, 320, 64, 64} (4-, 8- and 16-byte vectors; SD 1.5's 8x8 and 16x16 levels at batch 2 and 16)
            new long[][] {{2, 320, 16, 16}, {3, 64, 24, 16}, {1, 1280, 16, 16}, {1, 2560, 16, 16}, {2, 1280, 8, 8},
                {16, 2560, 8, 8}, {16, 1280, 16, 16}, {2, 2560, 16, 16}, {2, 640, 16, 16}, {1, 320, 64, 64}},
            new long[][] {{2 * 256, 2560}, {3, 16}},
            new long[][] {{2, 320, 16, 16}, {3, 8, 5, 7}},
            new long[][] {{2 * 256, 320}, {3, 1280}, {5, 40}},
            // and with the addend: two warps per group, 15 groups (a block's last pair of warps past the end), and
            // one group of 1024 channels over 16 warps (4 rounds of loads per lane; two channels per thread); one
            // launch for {2, 320, 16, 16, 32}, the 8x8 and 16x16 shapes and one group of 640 channels over 320 threads
            new long[][] {{2, 320, 16, 16, 32}, {3, 40, 24, 16, 8}, {3, 40, 128, 128, 5}, {1, 1024, 16, 16, 1},
                {16, 1280, 16, 16, 32}, {2, 2560, 8, 8, 32}, {2, 640, 4, 4, 1}},
            new long[][] {{2, 320, 16, 16, 320}, {3, 40, 5, 7, 24}},
            new long[][] {{2, 256, 1280, 320}, {3, 5, 40, 24}, {3, 5, 36, 20}},
            // (two parts: 60 channels per group, one warp each; one group of 320 channels over 8 warps; one launch
            // but for the group of 320 channels, 1280 + 1280 at 16x16 in 16-byte vectors)
            new long[][] {{2, 1280, 640, 8, 8, 32}, {3, 40, 32, 5, 7, 6}, {1, 160, 160, 16, 16, 1},
                {2, 1276, 644, 4, 4, 32}, {2, 1280, 1280, 16, 16, 32}},
            new long[][] {{2, 1280, 640, 8, 8, 640}, {2, 1276, 644, 4, 4, 640}},
            new long[][] {{2, 320, 8, 8, 16, 16, 16, 1}, {1, 64, 5, 7, 10, 14, 32, 1}, {3, 8, 5, 7, 10, 14, 16, 1},
                {2, 4, 8, 8, 16, 16, 16, 1}, {1, 64, 4, 4, 12, 12, 16, 1}, {1, 64, 5, 5, 9, 9, 16, 1},
                {1, 64, 5, 5, 10, 10, 16, 0}},
            new long[][] {{2 * 256, 320, 960}, {2 * 256, 320, 2560}, {2 * 64, 1280, 1280}},
            new long[][] {{2, 4096, 8, 40, 77}, {2, 200, 8, 40, 77}, {2, 64, 8, 40, 1}, {3, 100, 5, 40, 128},
                {2, 64, 8, 80, 77}, {2, 64, 10, 64, 77}, {2, 64, 8, 40, 154}},
            new long[][] {{2 * 256, 1280, 320}, {2 * 64, 2560, 640}, {2 * 64, 5120, 1280}},
            new long[][] {{2, 4096, 8, 40}, {2, 256, 8, 40}, {2, 200, 8, 40}, {2, 256, 8, 64}},
            new long[][] {timeProjCase(1, 1280, 320, 640, 1280), timeProjCase(2, 1280, 320, 640, 1280, 1280),
                timeProjCase(16, 1280, 320, 1280), timeProjCase(3, 64, repeat(70, 8)),
                timeProjCase(2, 1280, 320, 100)},
            // SD 1.5's VAE mid-block at 512x512, SDXL's float32 VAE's (at 4096 tokens), 9000 tokens (two chunks of the
            // default limit); batch 2 with 2 heads of 320 in chunks of 128 queries, float32 batch 2 of one head in
            // chunks of 128 (forced limits); head size 256, which must take SDPA
            new long[][] {{1, 4096, 1, 512, 16, 0}, {1, 4096, 1, 512, 32, 0}, {1, 9000, 1, 512, 16, 0},
                {2, 1000, 2, 320, 16, 300_000}, {2, 256, 1, 512, 32, 100_000}, {1, 256, 2, 256, 16, 0}},
            // FP8 ResNet blocks: 16x16 320 -> 320, the 8x8 level's 2560 -> 1280 from two parts (batch 2), 960 -> 320
            // from two parts at 16x16, 640 -> 640 at 8x8 (one launch of each norm)
            new long[][] {{2, 320, 0, 16, 16, 320}, {2, 1280, 1280, 8, 8, 1280}, {2, 640, 320, 16, 16, 320},
                {1, 640, 0, 8, 8, 640}});

    /** Runs every case on {@code gpu}, printing one line each; true when all pass (and trivially without the library). */
    public boolean run(Device gpu, PrintStream out) {
        if (!NativeOps.available()) {
            return true;
        }
        return groupNorm(gpu, out) & geglu(gpu, out) & biasAdd(gpu, out) & layerNorm(gpu, out) & biasGroupNorm(gpu, out)
                & conv1x1(gpu, out) & linearResidual(gpu, out) & catGroupNorm(gpu, out) & catConv1x1(gpu, out)
                & upsample(gpu, out) & fp8Linear(gpu, out) & crossAttention(gpu, out) & fp8FfOut(gpu, out)
                & selfAttention(gpu, out) & timeProj(gpu, out) & attentionResidual(gpu, out) & promptKv(gpu, out)
                & wideHeadAttention(gpu, out) & fp8Conv(gpu, out) & fp8ResnetBlocks(gpu, out);
    }

    /**
     * (B, C1, C2, K, H, W) of {@link #fp8ResnetBlocks}: SD 1.5's 320 -> 320 (down block 0, no shortcut) and up block
     * 3's 640 + 320 -> 320 (two parts, conv_shortcut), at the 8x8 and 16x16 tiles, batch 2.
     */
    private static final long[][] FP8_RESNET_BLOCKS = {{2, 320, 0, 320, 8, 8}, {2, 320, 0, 320, 16, 16},
        {2, 640, 320, 320, 8, 8}, {2, 640, 320, 320, 16, 16}};
    /**
     * After the LoRA-like patch (conv1's and conv2's weights changed by as much as they are) the FP8 output must move
     * from the old one by more than this: twice {@link #FP8_MAX_RELATIVE}, so FP8 weights left unrefreshed (the old
     * output, ~0 apart) fail, while a refreshed block's change (~0.3 or more on these inputs) passes.
     */
    static final double FP8_PATCH_MIN_CHANGE = 2 * FP8_MAX_RELATIVE;

    /**
     * The FP8 ResNet block as the UNet wires it ({@link Fp8ResnetBlockCheck}: a real {@code ResnetBlock2D} with random
     * fp16 channels-last weights, its companions made by its own prepareFp8, its public forward with {@code
     * NativeOps.FP8_CONV} on and off): FP8 against fp16 below {@link #FP8_MAX_RELATIVE}, the block still on the FP8 path
     * after its runs (a failed launch turns the FP8 convolution off), and after a LoRA-like in-place patch of conv1 and
     * conv2 and the refresh the UNet runs after patches, FP8 against fp16 with the new weights below {@link
     * #FP8_MAX_RELATIVE} and the FP8 output moved from the old by more than {@link #FP8_PATCH_MIN_CHANGE}. Skipped,
     * with the reason, where the kernel does not run here.
     */
    private boolean fp8ResnetBlocks(Device gpu, PrintStream out) {
        out.println("== FP8 ResNet blocks end to end (ResnetBlock2D with FP8 companions, SD_FP8_CONV on vs off): relative"
                + " error < " + FP8_MAX_RELATIVE + "; after a LoRA-like patch of conv1/conv2 and the refresh, < "
                + FP8_MAX_RELATIVE + " against fp16 and moved > " + FP8_PATCH_MIN_CHANGE + " from the old output");
        if (!NativeOps.FP8_CONV.linked()) {
            out.println("  skipped: the library has no FP8 convolution functions (built before them)");
            return true;
        }
        boolean ok = true;
        for (long[] c : FP8_RESNET_BLOCKS) {
            String label = String.format(Locale.ROOT, "(%d, %s, %d, %d) -> %d", c[0],
                    c[2] > 0 ? c[1] + "+" + c[2] : String.valueOf(c[1]), c[4], c[5], c[3]);
            Fp8ResnetBlockCheck.Result r;
            try {
                r = Fp8ResnetBlockCheck.run(gpu, c[0], (int) c[1], (int) c[2], (int) c[3], (int) c[4], (int) c[5], 1.0);
            } catch (RuntimeException e) {
                out.printf(Locale.ROOT, "  %s block: %s -> FAIL%n", label, e);
                ok = false;
                continue;
            }
            if (r.skipped() != null) {
                out.printf(Locale.ROOT, "  %s block: skipped: %s%n", label, r.skipped());
                continue;
            }
            boolean fp8 = r.fp8VsFp16() < FP8_MAX_RELATIVE;
            boolean patched = r.patchedFp8VsFp16() < FP8_MAX_RELATIVE;
            boolean moved = r.patchedChange() > FP8_PATCH_MIN_CHANGE;
            out.printf(Locale.ROOT, "  %s block FP8 vs fp16: relative error %.4f -> %s%n", label, r.fp8VsFp16(),
                    fp8 ? "PASS" : "FAIL");
            out.printf(Locale.ROOT, "  %s block on the FP8 path after its runs: %s -> %s%n", label,
                    r.tookFp8After() ? "yes" : "NO (a launch failed: see the log)", r.tookFp8After() ? "PASS" : "FAIL");
            out.printf(Locale.ROOT, "  %s block after a conv1/conv2 patch + refresh: FP8 vs fp16 %.4f, moved %.4f from"
                    + " before -> %s%n", label, r.patchedFp8VsFp16(), r.patchedChange(),
                    patched && moved ? "PASS" : "FAIL");
            ok &= fp8 && r.tookFp8After() && patched && moved;
        }
        return ok;
    }

    /** The ResNet blocks' GroupNorm groups (SD 1.x/2.x and SDXL: 32) and eps (the UNet's 1e-5) in {@link #fp8Conv}. */
    private static final int BLOCK_GROUPS = 32;
    private static final double BLOCK_EPS = 1e-5;

    /** A random fp16 channels-last (B, C, H, W) tensor, values mean + spread · N(0, 1) (also Fp8ResnetBlockCheck's). */
    public static NDArray channelsLast(NDManager t, Shape s, float mean, float spread) {
        return NativeOps.toChannelsLast(add(mul(t.randomNormal(s), spread), mean).toType(DataType.FLOAT16, false));
    }

    /** A fresh channels-last copy of a channels-last x (an input the call may overwrite). */
    private static NDArray copyOf(NDArray x) {
        return NativeOps.toChannelsLast(NativeOps.rowMajor(x));
    }

    /**
     * PyTorch's e4m3 conversion of a (B, C, H, W) fp16 y, as contiguous bytes in (B, H, W, C) order (the e4m3 norms'
     * layout).
     */
    private static NDArray nhwcBytes(NDArray y) {
        NDArray bytes = NativeOps.wrap(y, NativeOps.toFp8Bytes(NativeOps.h(y.transpose(0, 2, 3, 1))));
        return NativeOps.wrap(y, NativeOps.contiguous(NativeOps.h(bytes)));
    }

    /** (B, C, H, W) float32 from e4m3 bytes (B, H, W, C), exactly. */
    private static NDArray nchwFloat(NDArray x8) {
        return NativeOps.wrap(x8, NativeOps.fromFp8Bytes(NativeOps.h(x8))).transpose(0, 3, 1, 2);
    }

    /**
     * The UNet's ResNet blocks on the FP8 path ({@link #fp8Conv} cases; the record's docs): (a) the e4m3 GroupNorms, (b)
     * the FP8 convolution against PyTorch's float32 convolution of the dequantised operands, (c) the block's FP8 path
     * against its fp16 path.
     */
    private boolean fp8Conv(Device gpu, PrintStream out) {
        out.println("== FP8 ResNet blocks (SD_FP8_CONV): the e4m3 GroupNorm + SiLU outputs vs PyTorch's conversion of our"
                + " fp16 output (at most one e4m3 step); the FP8 3x3 convolution vs PyTorch's float32 convolution of the"
                + " dequantised e4m3 operands (relative error < " + FP8_CONV_MAX_RELATIVE + "); the block's FP8 path vs"
                + " its fp16 path (< " + FP8_MAX_RELATIVE + ")");
        if (!NativeOps.FP8_CONV.linked()) {
            out.println("  skipped: the library has no FP8 convolution functions (built before them)");
            return true;
        }
        String convOff = NativeOps.fp8ConvUnsupported();
        boolean ok = true;
        int groups = BLOCK_GROUPS;
        double eps = BLOCK_EPS;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : fp8Conv) {
                long b = sh[0];
                long c1 = sh[1];
                long c2 = sh[2];
                long hh = sh[3];
                long ww = sh[4];
                long k = sh[5];
                long cin = c1 + c2;
                String label = String.format(Locale.ROOT, "(%d, %s, %d, %d) -> %d", b,
                        c2 > 0 ? c1 + "+" + c2 : String.valueOf(c1), hh, ww, k);
                try (NDManager t = m.newSubManager()) {
                    NDArray x1 = channelsLast(t, new Shape(b, c1, hh, ww), 0.5f, 2f);
                    NDArray x2 = c2 > 0 ? channelsLast(t, new Shape(b, c2, hh, ww), -0.5f, 1f) : null;
                    NDArray gamma1 = add(mul(t.randomNormal(new Shape(cin)), 0.3f), 1f).toType(DataType.FLOAT16, false);
                    NDArray beta1 = mul(t.randomNormal(new Shape(cin)), 0.3f).toType(DataType.FLOAT16, false);
                    NDArray gamma2 = add(mul(t.randomNormal(new Shape(k)), 0.3f), 1f).toType(DataType.FLOAT16, false);
                    NDArray beta2 = mul(t.randomNormal(new Shape(k)), 0.3f).toType(DataType.FLOAT16, false);
                    NDArray bias1 = mul(t.randomNormal(new Shape(k)), 0.1f).toType(DataType.FLOAT16, false);
                    NDArray bias2 = mul(t.randomNormal(new Shape(k)), 0.1f).toType(DataType.FLOAT16, false);
                    NDArray temb = mul(t.randomNormal(new Shape(b, k)), 0.5f).toType(DataType.FLOAT16, false);
                    NDArray w1 = NativeOps.toChannelsLast(mul(t.randomNormal(new Shape(k, cin, 3, 3)),
                            (float) (1 / Math.sqrt(9.0 * cin))).toType(DataType.FLOAT16, false));
                    NDArray w2 = NativeOps.toChannelsLast(mul(t.randomNormal(new Shape(k, k, 3, 3)),
                            (float) (1 / Math.sqrt(9.0 * k))).toType(DataType.FLOAT16, false));
                    // (a) norm1 and norm2 as e4m3, under each SD_GROUP_NORM_ONE_PASS setting
                    NDArray a16 = c2 > 0 ? NativeOps.catGroupNorm(x1, x2, groups, gamma1, beta1, eps, true)
                            : NativeOps.groupNorm(x1, groups, gamma1, beta1, eps, true);
                    NDArray h = NativeOps.wrap(a16, NativeOps.conv2d(NativeOps.h(a16), NativeOps.h(w1), 0L, 1, 1, 0L,
                            0L)); // conv1 in fp16 without its bias: norm2's input
                    NDArray a8 = null;
                    for (Boolean onePass : onePassSettings()) {
                        String l1 = label + " norm1" + (c2 > 0 ? " (two parts)" : "") + pathLabel(onePass, hh * ww, cin,
                                groups);
                        NDArray[] r1 = withOnePass(onePass, () -> new NDArray[] {
                            c2 > 0 ? NativeOps.catGroupNormSiluE4m3(x1, x2, groups, gamma1, beta1, eps)
                                    : NativeOps.groupNormSiluE4m3(x1, null, null, groups, gamma1, beta1, eps),
                            c2 > 0 ? NativeOps.catGroupNorm(x1, x2, groups, gamma1, beta1, eps, true)
                                    : NativeOps.groupNorm(x1, groups, gamma1, beta1, eps, true)});
                        ok &= groupNormPath(out, l1, onePass, hh * ww, cin, groups);
                        ok &= e4m3Steps(out, l1, nhwcBytes(r1[1]), r1[0]);
                        if (c2 > 0) { // the parts read in place: the one-input kernels' bytes of the concatenation
                            NDArray whole = NativeOps.toChannelsLast(x1.concat(x2, 1));
                            NDArray one = withOnePass(onePass,
                                    () -> NativeOps.groupNormSiluE4m3(whole, null, null, groups, gamma1, beta1, eps));
                            boolean same = Arrays.equals(one.toByteArray(), r1[0].toByteArray());
                            out.printf(Locale.ROOT, "  %s: bytes %s the concatenation's -> %s%n", l1,
                                    same ? "equal to" : "DIFFER from", same ? "PASS" : "FAIL");
                            ok &= same;
                        }
                        a8 = r1[0];
                        String l2 = label + " norm2 + bias + time embedding" + pathLabel(onePass, hh * ww, k, groups);
                        NDArray[] r2 = withOnePass(onePass, () -> new NDArray[] {
                            NativeOps.groupNormSiluE4m3(copyOf(h), bias1, temb, groups, gamma2, beta2, eps),
                            NativeOps.biasGroupNorm(copyOf(h), bias1, temb, groups, gamma2, beta2, eps, true)});
                        ok &= groupNormPath(out, l2, onePass, hh * ww, k, groups);
                        ok &= e4m3Steps(out, l2, nhwcBytes(r2[1]), r2[0]);
                    }
                    String why = convOff != null ? convOff
                            : !NativeOps.conv3x3Fp8Supported(b, hh, ww, cin, k) || !NativeOps.conv3x3Fp8Supported(b, hh,
                                    ww, k, k) ? "the kernel does not take this shape" : null;
                    if (why != null) {
                        out.printf(Locale.ROOT, "  %s FP8 convolution and block: skipped: %s%n", label, why);
                        continue;
                    }
                    // (b) conv1 on norm1's e4m3 output: the weight as Fp8Conv writes it
                    NDArray w18 = t.zeros(new Shape(k, 9 * cin), DataType.UINT8);
                    NDArray d1 = t.zeros(new Shape(k), DataType.FLOAT32);
                    Fp8Conv.write(w1, w18, d1);
                    NDArray wf = NativeOps.wrap(w18, NativeOps.fromFp8Bytes(NativeOps.h(w18))).reshape(k, 3, 3, cin)
                            .transpose(0, 3, 1, 2);
                    Shape one = new Shape(1, 1);
                    NDArray exact = Conv2d.conv2d(nchwFloat(a8), wf, t.zeros(new Shape(k)), one, one, one, 1).head()
                            .mul(d1.reshape(1, k, 1, 1));
                    NDArray res = channelsLast(t, new Shape(b, k, hh, ww), 0f, 1f);
                    NDArray bias32 = bias1.toType(DataType.FLOAT32, false).reshape(1, k, 1, 1);
                    ok &= relative(out, label + " conv1 FP8", NativeOps.conv3x3Fp8(a8, w18, d1, null, null), exact,
                            FP8_CONV_MAX_RELATIVE);
                    ok &= relative(out, label + " conv1 FP8 + bias", NativeOps.conv3x3Fp8(a8, w18, d1, bias1, null),
                            exact.add(bias32), FP8_CONV_MAX_RELATIVE);
                    NDArray withRes = NativeOps.conv3x3Fp8(a8, w18, d1, bias1, res);
                    boolean layout = NativeOps.isChannelsLast(NativeOps.h(withRes));
                    if (!layout) {
                        out.printf(Locale.ROOT, "  %s conv1 FP8: output not channels-last -> FAIL%n", label);
                        ok = false;
                    }
                    ok &= relative(out, label + " conv1 FP8 + bias + residual", withRes,
                            exact.add(bias32).add(res.toType(DataType.FLOAT32, false)), FP8_CONV_MAX_RELATIVE);
                    // (c) the block: fp16 path (ResnetBlock2D.run with SD_FUSED_BIAS_NORM) vs FP8 path (runFp8)
                    NDArray shortcut = null;
                    NDArray shortcutBias = null;
                    if (cin != k) {
                        shortcut = mul(t.randomNormal(new Shape(k, cin, 1, 1)), (float) (1 / Math.sqrt(cin)))
                                .toType(DataType.FLOAT16, false);
                        shortcutBias = mul(t.randomNormal(new Shape(k)), 0.1f).toType(DataType.FLOAT16, false);
                    }
                    NDArray residual = c2 > 0 ? NativeOps.catConv1x1(x1, x2, shortcut, shortcutBias)
                            : shortcut == null ? x1 : NativeOps.wrap(x1, NativeOps.conv2d(NativeOps.h(x1),
                                    NativeOps.h(shortcut), NativeOps.h(shortcutBias), 1, 0, 0L, 0L));
                    NDArray n2 = NativeOps.biasGroupNorm(copyOf(h), bias1, temb, groups, gamma2, beta2, eps, true);
                    NDArray y16 = NativeOps.wrap(n2, NativeOps.conv2d(NativeOps.h(n2), NativeOps.h(w2),
                            NativeOps.h(bias2), 1, 1, 0L, NativeOps.h(residual)));
                    NDArray w28 = t.zeros(new Shape(k, 9 * k), DataType.UINT8);
                    NDArray d2 = t.zeros(new Shape(k), DataType.FLOAT32);
                    Fp8Conv.write(w2, w28, d2);
                    NDArray h8 = NativeOps.groupNormSiluE4m3(NativeOps.conv3x3Fp8(a8, w18, d1, null, null), bias1, temb,
                            groups, gamma2, beta2, eps);
                    NDArray y8 = NativeOps.conv3x3Fp8(h8, w28, d2, bias2, residual);
                    ok &= relative(out, label + " ResNet block FP8 vs fp16", y8, y16, FP8_MAX_RELATIVE);
                }
            }
        }
        return ok;
    }

    /** CLIP's text encoder layer's self-attention (77 tokens, 12 heads of 64, causal mask): an entry case of its own. */
    private static final long[] CLIP_SELF_ATTENTION = {2, 77, 12, 64};

    /**
     * The attention entries with the residual added by their output projection ({@code SD_ATTN_RESIDUAL}: {@code
     * NativeOps.selfAttention} and {@code crossAttention} with a residual) against the same entry without it + the add
     * in fp16 (PyTorch's add: the entry's fp16 output, then the sum rounded), at the self- and cross-attention shapes
     * (and CLIP's masked self-attention); oracle: the entry's fp16 output + the residual in fp32. The fused product
     * rounds bias + attention + residual once, so it differs from the add within fp16 rounding ({@link #matches}); the
     * product must be the cuBLASLt one ({@code SD_LT_RESIDUAL} switched on for it) where C is a multiple of 8. The FP8
     * entries' residual is checked with the FP8 linears ({@link #fp8Entry}).
     */
    private boolean attentionResidual(Device gpu, PrintStream out) {
        out.println("== attention entries with the residual in their output projection (SD_ATTN_RESIDUAL: one cuBLASLt"
                + " product) vs the entry + add (fp16 on CUDA; oracle: the entry's output + residual in fp32)");
        if (!NativeOps.ATTN_RESIDUAL.linked()) {
            out.println("  the library's attention entries take no residual (built before them): skipped");
            return true;
        }
        List<long[]> cases = new ArrayList<>();
        for (long[] sh : selfAttention) {
            cases.add(new long[] {sh[0], sh[1], sh[2], sh[3], 0});
        }
        cases.add(new long[] {CLIP_SELF_ATTENTION[0], CLIP_SELF_ATTENTION[1], CLIP_SELF_ATTENTION[2],
            CLIP_SELF_ATTENTION[3], -1});
        for (long[] sh : crossAttention) {
            cases.add(sh);
        }
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : cases) {
                long b = sh[0];
                long n = sh[1];
                int heads = (int) sh[2];
                long d = sh[3];
                long keys = sh[4]; // 0: self-attention, -1: with CLIP's causal mask, else cross-attention over keys
                long c = heads * d;
                try (NDManager t = m.newSubManager()) {
                    NDArray x = t.randomNormal(new Shape(b, n, c)).toType(DataType.FLOAT16, false);
                    NDArray r = t.randomNormal(new Shape(b, n, c)).toType(DataType.FLOAT16, false);
                    NDArray wout = mul(t.randomNormal(new Shape(c, c)), (float) (1 / Math.sqrt(c)))
                            .toType(DataType.FLOAT16, false);
                    NDArray bout = mul(t.randomNormal(new Shape(c)), 0.5f).toType(DataType.FLOAT16, false);
                    long plain;
                    long ours;
                    boolean fused;
                    String what;
                    try {
                        NativeOps.LT_RESIDUAL.set(true);
                        fused = NativeOps.linearResidualFused(NativeOps.h(x), NativeOps.h(wout), NativeOps.h(bout),
                                NativeOps.h(r));
                        if (keys <= 0) {
                            // q|k|v: q's rows with the 1/√d scale folded in (scores of spread ~1)
                            NDArray scale = t.full(new Shape(c, 1), (float) (1 / Math.sqrt(d)))
                                    .concat(t.ones(new Shape(2 * c, 1)), 0);
                            NDArray wqkv = mul(t.randomNormal(new Shape(3 * c, c)), (float) (1 / Math.sqrt(c)))
                                    .mul(scale).toType(DataType.FLOAT16, false);
                            NDArray mask = keys < 0 ? causalMask(t, n) : null;
                            what = mask != null ? "self (causal mask)" : "self";
                            plain = NativeOps.selfAttention(NativeOps.h(x), NativeOps.h(wqkv), 0L, NativeOps.h(wout),
                                    NativeOps.h(bout), heads, NativeOps.h(mask), 0L);
                            ours = NativeOps.selfAttention(NativeOps.h(x), NativeOps.h(wqkv), 0L, NativeOps.h(wout),
                                    NativeOps.h(bout), heads, NativeOps.h(mask), NativeOps.h(r));
                        } else {
                            NDArray ctx = t.randomNormal(new Shape(b, keys, 768)).toType(DataType.FLOAT16, false);
                            NDArray wq = mul(t.randomNormal(new Shape(c, c)), (float) (1 / Math.sqrt(c * d)))
                                    .toType(DataType.FLOAT16, false);
                            NDArray wkv = mul(t.randomNormal(new Shape(2 * c, 768)), (float) (1 / Math.sqrt(768)))
                                    .toType(DataType.FLOAT16, false);
                            what = "cross " + keys + " keys";
                            plain = NativeOps.crossAttention(NativeOps.h(x), NativeOps.h(ctx), NativeOps.h(wq), 0L,
                                    NativeOps.h(wkv), 0L, NativeOps.h(wout), NativeOps.h(bout), heads, 0L);
                            ours = NativeOps.crossAttention(NativeOps.h(x), NativeOps.h(ctx), NativeOps.h(wq), 0L,
                                    NativeOps.h(wkv), 0L, NativeOps.h(wout), NativeOps.h(bout), heads, NativeOps.h(r));
                        }
                    } finally {
                        NativeOps.LT_RESIDUAL.set(null);
                    }
                    String label = String.format(Locale.ROOT, "x %-16s heads %2d d %3d %-18s %s", x.getShape(), heads,
                            d, what, fused ? "cuBLASLt" : "fallback");
                    ok &= residualEntry(out, label, c % 8 == 0, fused, NativeOps.wrap(x, plain),
                            NativeOps.wrap(x, ours), r);
                }
            }
        }
        return ok;
    }

    /** CLIP's causal mask (n, n) in fp16: 0 on and below the diagonal, a large negative number above. */
    private static NDArray causalMask(NDManager t, long n) {
        float[] v = new float[(int) (n * n)];
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                v[(int) (i * n + j)] = -1e4f;
            }
        }
        return t.create(v, new Shape(n, n)).toType(DataType.FLOAT16, false);
    }

    /**
     * One attention entry's residual case: {@code ours} (the entry given the residual r) against {@code plain} (the
     * entry without it) + r in fp16, and the oracle plain + r in fp32 ({@link #checkProduct}: the path, the shape, and
     * {@link #matches}); one line.
     */
    private static boolean residualEntry(PrintStream out, String label, boolean expected, boolean fused, NDArray plain,
            NDArray ours, NDArray r) {
        NDArray exact = plain.toType(DataType.FLOAT32, false).add(r.toType(DataType.FLOAT32, false));
        return checkProduct(out, label, expected, fused, exact, ours, plain.add(r));
    }

    /** Where a prompt K|V's layer starts in the checks below: as {@code UNet2DConditionModel.PROMPT_KV_ALIGN}. */
    private static final long PROMPT_KV_OFFSET = 256;

    /**
     * kv (B, M, 2C) as a slice of a prompt K|V: copied into a 1-d fp16 buffer at {@link #PROMPT_KV_OFFSET} (the first
     * elements zeros), viewed back as (B, M, 2C), as {@code UNet2DConditionModel} lays out and slices one.
     */
    private static NDArray asPromptKvSlice(NDManager t, NDArray kv) {
        NDArray flat = NDArrays.concat(new NDList(t.zeros(new Shape(PROMPT_KV_OFFSET), kv.getDataType()),
                kv.reshape(-1)), 0);
        return flat.get(PROMPT_KV_OFFSET + ":" + (PROMPT_KV_OFFSET + kv.size())).reshape(kv.getShape());
    }

    /**
     * The cross-attention with its k|v made before ({@code NativeOps.crossAttentionKv}, the prompt K|V's entry, {@code
     * SD_PROMPT_KV}) against the one call that projects the context ({@code NativeOps.crossAttention}) on the {@link
     * #crossAttention} shapes (C = heads·d, a 768-wide context of M tokens, biases on q, k|v and the output), the
     * k|v the same {@code NativeOps.linear} product as a slice of a prompt K|V ({@link #asPromptKvSlice}): bit for bit
     * equal (the same kernels on the same values), with {@code SD_CROSS_ATTENTION_KERNEL} as configured.
     */
    private boolean promptKv(Device gpu, PrintStream out) {
        out.println("== cross-attention with its k|v made before (the prompt K|V, SD_PROMPT_KV) vs projecting the"
                + " context in the call (fp16 on CUDA; bit for bit equal)");
        if (!NativeOps.crossAttentionKvLinked()) {
            out.println("  the library has no k|v cross-attention functions (built before them): skipped");
            return true;
        }
        boolean ok = true;
        long cc = 768;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : crossAttention) {
                long b = sh[0];
                long n = sh[1];
                int heads = (int) sh[2];
                long c = heads * sh[3];
                long keys = sh[4];
                try (NDManager t = m.newSubManager()) {
                    NDArray x = t.randomNormal(new Shape(b, n, c)).toType(DataType.FLOAT16, false);
                    NDArray ctx = t.randomNormal(new Shape(b, keys, cc)).toType(DataType.FLOAT16, false);
                    NDArray wq = mul(t.randomNormal(new Shape(c, c)), (float) (1 / Math.sqrt(c) / Math.sqrt(sh[3])))
                            .toType(DataType.FLOAT16, false);
                    NDArray bq = mul(t.randomNormal(new Shape(c)), 0.1f).toType(DataType.FLOAT16, false);
                    NDArray wkv = mul(t.randomNormal(new Shape(2 * c, cc)), (float) (1 / Math.sqrt(cc)))
                            .toType(DataType.FLOAT16, false);
                    NDArray bkv = mul(t.randomNormal(new Shape(2 * c)), 0.1f).toType(DataType.FLOAT16, false);
                    NDArray wout = mul(t.randomNormal(new Shape(c, c)), (float) (1 / Math.sqrt(c)))
                            .toType(DataType.FLOAT16, false);
                    NDArray bout = mul(t.randomNormal(new Shape(c)), 0.1f).toType(DataType.FLOAT16, false);
                    NDArray ref = NativeOps.wrap(x, NativeOps.crossAttention(NativeOps.h(x), NativeOps.h(ctx),
                            NativeOps.h(wq), NativeOps.h(bq), NativeOps.h(wkv), NativeOps.h(bkv), NativeOps.h(wout),
                            NativeOps.h(bout), heads, 0L));
                    NDArray kv = NativeOps.wrap(ctx, NativeOps.linear(NativeOps.h(ctx), NativeOps.h(wkv),
                            NativeOps.h(bkv)));
                    NDArray slice = asPromptKvSlice(t, kv);
                    NDArray ours = NativeOps.wrap(x, NativeOps.crossAttentionKv(NativeOps.h(x), NativeOps.h(slice),
                            NativeOps.h(wq), NativeOps.h(bq), NativeOps.h(wout), NativeOps.h(bout), heads, 0L));
                    String label = String.format(Locale.ROOT, "x %-16s heads %2d d %3d keys %3d", x.getShape(), heads,
                            sh[3], keys);
                    ok &= bitEqual(out, label, ref, ours);
                }
            }
        }
        return ok;
    }

    /** One line: {@code ours} equal to {@code ref} bit for bit (same shape, max |Δ| 0, no NaN in either). */
    private static boolean bitEqual(PrintStream out, String label, NDArray ref, NDArray ours) {
        boolean shape = ref.getShape().equals(ours.getShape());
        float diff = shape ? ref.toType(DataType.FLOAT32, false).sub(ours.toType(DataType.FLOAT32, false)).abs().max()
                .getFloat() : Float.NaN;
        boolean pass = diff == 0f;
        out.printf(Locale.ROOT, "  %s: max |Δ| %s -> %s%n", label, shape ? String.format(Locale.ROOT, "%.6f", diff)
                : "shapes " + ref.getShape() + " vs " + ours.getShape(), pass ? "PASS" : "FAIL");
        return pass;
    }

    private boolean timeProj(Device gpu, PrintStream out) {
        out.println("== the ResNet blocks' time-embedding projections in one launch (time_proj.cu) vs one product each"
                + " (NativeOps.linear: cuBLASLt or at::linear; fp16 on CUDA; oracle: the fp32 products + biases)");
        if (!NativeOps.TIME_PROJ_KERNEL.linked()) {
            out.println("  the library has no time-projection kernel (built before it): skipped");
            return true;
        }
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : timeProj) {
                long b = sh[0];
                long k = sh[1];
                int count = sh.length - 2;
                boolean expected = b >= 1 && b <= 16 && k % 8 == 0 && b * k * 2 <= 48 * 1024;
                try (NDManager t = m.newSubManager()) {
                    NDArray x = t.randomNormal(new Shape(b, k)).toType(DataType.FLOAT16, false);
                    NDArray[] w = new NDArray[count];
                    NDArray[] bias = new NDArray[count];
                    long[] wh = new long[count];
                    long[] bh = new long[count];
                    for (int i = 0; i < count; i++) {
                        long n = sh[i + 2];
                        expected &= n % 8 == 0;
                        w[i] = mul(t.randomNormal(new Shape(n, k)), (float) (1 / Math.sqrt(k)))
                                .toType(DataType.FLOAT16, false);
                        bias[i] = i % 3 == 2 ? null : t.randomNormal(new Shape(n)).toType(DataType.FLOAT16, false);
                        wh[i] = NativeOps.h(w[i]);
                        bh[i] = NativeOps.h(bias[i]);
                    }
                    boolean kernel = NativeOps.timeProjectionsKernel(NativeOps.h(x), wh, bh);
                    NDArray x32 = x.toType(DataType.FLOAT32, false);
                    for (String when : new String[] {"weights as loaded", "after an in-place change"}) {
                        if (!when.equals("weights as loaded")) { // as a LoRA patch: the kernel must see it
                            w[0].addi(mul(t.randomNormal(w[0].getShape()), (float) (0.1 / Math.sqrt(k)))
                                    .toType(DataType.FLOAT16, false));
                        }
                        NDArray[] ours = NativeOps.timeProjections(x, w, bias);
                        // a launch the GPU refused: the kernel fell back, and says so from now on
                        kernel &= NativeOps.timeProjectionsKernel(NativeOps.h(x), wh, bh);
                        NDList exact = new NDList();
                        NDList torch16 = new NDList();
                        NDList mine = new NDList();
                        boolean shapes = ours.length == count;
                        for (int i = 0; i < count && shapes; i++) {
                            NDArray e = x32.matMul(w[i].toType(DataType.FLOAT32, false).transpose());
                            exact.add((bias[i] == null ? e : e.add(bias[i].toType(DataType.FLOAT32, false))).reshape(-1));
                            torch16.add(NativeOps.wrap(x, NativeOps.linear(NativeOps.h(x), wh[i], bh[i])).reshape(-1));
                            shapes = ours[i].getShape().equals(new Shape(b, sh[i + 2]))
                                    && ours[i].getDataType() == DataType.FLOAT16;
                            mine.add(ours[i].reshape(-1));
                        }
                        String label = String.format(Locale.ROOT, "x %-12s %2d products (N %d..%d) %-24s %s",
                                x.getShape(), count, Arrays.stream(sh, 2, sh.length).min().getAsLong(),
                                Arrays.stream(sh, 2, sh.length).max().getAsLong(), when,
                                kernel ? "ours" : "fallback");
                        if (!shapes || kernel != expected) {
                            out.printf(Locale.ROOT, "  %s: %s -> FAIL%n", label,
                                    shapes ? "expected the " + (expected ? "kernel" : "fallback") + " path"
                                            : "outputs not (B, N_i) fp16");
                            ok = false;
                            continue;
                        }
                        ok &= matches(out, label, NDArrays.concat(exact), NDArrays.concat(mine),
                                NDArrays.concat(torch16));
                    }
                }
            }
        }
        return ok;
    }

    private boolean selfAttention(Device gpu, PrintStream out) {
        out.println("== self-attention kernel (head size 40, Hopper) vs PyTorch's SDPA (fp16 on CUDA, the strided q|k|v"
                + " thirds of one projection as the pipeline passes them; oracle: SDPA in fp32; max abs error <= "
                + CROSS_ATTENTION_MAX_ABS + " and <= " + CROSS_ATTENTION_MAX_RATIO + "x SDPA's or one output ulp)");
        if (!attentionKernelLinked(out, NativeOps.SELF_ATTENTION_KERNEL, "self-attention")) {
            return true;
        }
        boolean built = attentionKernelBuilt(out);
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : selfAttention) {
                long b = sh[0];
                long n = sh[1];
                int heads = (int) sh[2];
                long d = sh[3];
                long c = heads * d;
                try (NDManager t = m.newSubManager()) {
                    NDArray qkv = randomQkv(t, b, n, c, d);
                    long hqkv = NativeOps.h(qkv);
                    NDArray qkv32 = qkv.toType(DataType.FLOAT32, false);
                    NDArray exact;
                    NDArray sdpa;
                    NDArray ours;
                    boolean kernel;
                    boolean offFallsBack;
                    try {
                        NativeOps.VAE_ATTENTION_FP16.set(false); // the oracle: float32 SDPA throughout
                        exact = NativeOps.wrap(qkv, NativeOps.selfAttentionCore(NativeOps.h(qkv32), heads));
                        NativeOps.SELF_ATTENTION_KERNEL.set(false);
                        offFallsBack = !NativeOps.selfAttentionKernel(hqkv, heads);
                        sdpa = NativeOps.wrap(qkv, NativeOps.selfAttentionCore(hqkv, heads));
                        NativeOps.SELF_ATTENTION_KERNEL.set(true);
                        kernel = NativeOps.selfAttentionKernel(hqkv, heads);
                        ours = NativeOps.wrap(qkv, NativeOps.selfAttentionCore(hqkv, heads));
                        // a launch the GPU refused: the kernel fell back, and says so from now on
                        kernel &= NativeOps.selfAttentionKernel(hqkv, heads);
                    } finally {
                        NativeOps.VAE_ATTENTION_FP16.set(null);
                        NativeOps.SELF_ATTENTION_KERNEL.set(null);
                    }
                    boolean expected = built && d == 40 && n % 128 == 0;
                    Shape shape = new Shape(b, n, c);
                    String label = String.format(Locale.ROOT, "x %-16s heads %2d d %3d %s", shape, heads, d,
                            kernel ? "ours" : "fallback (SDPA)");
                    ok &= attentionVerdict(out, label, kernel, expected, offFallsBack, ours, shape, exact, sdpa);
                }
            }
        }
        return ok;
    }

    /**
     * The wide-head attention ({@code SD_WIDE_HEAD_ATTENTION}: the VAE's mid-block) against SDPA; the cases are {@link
     * #wideAttention}'s.
     */
    private boolean wideHeadAttention(Device gpu, PrintStream out) {
        out.println("== wide-head attention (head size > 256: the VAE's mid-block; fp32 scores, fp16 P, queries in chunks)"
                + " vs PyTorch's SDPA (the strided q|k|v thirds of one projection; oracle: SDPA in fp32; max abs error <= "
                + CROSS_ATTENTION_MAX_ABS + " and <= " + CROSS_ATTENTION_MAX_RATIO + "x SDPA's or one output ulp)");
        if (!attentionKernelLinked(out, NativeOps.WIDE_HEAD_ATTENTION, "wide-head attention")) {
            return true;
        }
        boolean built = NativeOps.wideHeadAttentionBuilt();
        if (!built) {
            out.println("  (the library was built against PyTorch < 2.8, which has no fp16 x fp16 -> fp32 bmm: every case"
                    + " below must take SDPA)");
        }
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : wideAttention) {
                long b = sh[0];
                long n = sh[1];
                int heads = (int) sh[2];
                long d = sh[3];
                DataType type = sh[4] == 32 ? DataType.FLOAT32 : DataType.FLOAT16;
                long maxScores = sh[5];
                long c = heads * d;
                try (NDManager t = m.newSubManager()) {
                    // fp16 values (so the float32 case's conversion to fp16 is exact, and the oracle sees the same)
                    NDArray qkv16 = randomQkv(t, b, n, c, d);
                    NDArray qkv32 = qkv16.toType(DataType.FLOAT32, false);
                    NDArray qkv = type == DataType.FLOAT32 ? qkv32 : qkv16;
                    long hqkv = NativeOps.h(qkv);
                    NDArray exact;
                    NDArray sdpa;
                    NDArray ours;
                    boolean wide;
                    boolean offFallsBack;
                    try {
                        NativeOps.VAE_ATTENTION_FP16.set(false); // the oracle: float32 SDPA throughout
                        exact = NativeOps.wrap(qkv, NativeOps.selfAttentionCore(NativeOps.h(qkv32), heads));
                        NativeOps.VAE_ATTENTION_FP16.set(true);
                        NativeOps.WIDE_HEAD_ATTENTION.set(false);
                        offFallsBack = !NativeOps.wideHeadAttention(hqkv, heads);
                        sdpa = NativeOps.wrap(qkv, NativeOps.selfAttentionCore(hqkv, heads));
                        NativeOps.WIDE_HEAD_ATTENTION.set(true);
                        NativeOps.setWideHeadAttentionChunk(maxScores);
                        wide = NativeOps.wideHeadAttention(hqkv, heads);
                        ours = NativeOps.wrap(qkv, NativeOps.selfAttentionCore(hqkv, heads));
                    } finally {
                        NativeOps.setWideHeadAttentionChunk(0);
                        NativeOps.VAE_ATTENTION_FP16.set(null);
                        NativeOps.WIDE_HEAD_ATTENTION.set(null);
                    }
                    boolean expected = built && d > 256;
                    Shape shape = new Shape(b, n, c);
                    String label = String.format(Locale.ROOT, "x %-16s heads %d d %3d %s%s %s", shape, heads, d,
                            type == DataType.FLOAT32 ? "fp32" : "fp16",
                            maxScores > 0 ? " chunks of " + maxScores + " scores" : "",
                            wide ? "wide-head" : "fallback (SDPA)");
                    ok &= attentionVerdict(out, label, wide, expected, offFallsBack, ours, shape, type, exact, sdpa);
                }
            }
        }
        return ok;
    }

    /**
     * A random fp16 q|k|v (b, n, 3c) as the fused projection gives it: standard normal values, q's c columns times
     * 1/√d (the attention's scale folded in, so the scores have a spread of ~1), k's and v's as drawn.
     */
    private static NDArray randomQkv(NDManager t, long b, long n, long c, long d) {
        NDArray raw = t.randomNormal(new Shape(b, n, 3 * c));
        NDArray scale = t.full(new Shape(c), (float) (1 / Math.sqrt(d))).concat(t.ones(new Shape(2 * c)));
        return raw.mul(scale).toType(DataType.FLOAT16, false);
    }

    private boolean crossAttention(Device gpu, PrintStream out) {
        out.println("== cross-attention kernel (head size 40, at most 128 keys, Hopper) vs PyTorch's SDPA (fp16 on CUDA,"
                + " q and the strided k|v halves of one projection as the pipeline passes them; oracle: SDPA in fp32;"
                + " max abs error <= " + CROSS_ATTENTION_MAX_ABS + " and <= " + CROSS_ATTENTION_MAX_RATIO
                + "x SDPA's or one output ulp)");
        if (!attentionKernelLinked(out, NativeOps.CROSS_ATTENTION_KERNEL, "cross-attention")) {
            return true;
        }
        boolean built = attentionKernelBuilt(out);
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : crossAttention) {
                long b = sh[0];
                long n = sh[1];
                int heads = (int) sh[2];
                long d = sh[3];
                long keys = sh[4];
                long c = heads * d;
                try (NDManager t = m.newSubManager()) {
                    // q as Attention's projection gives it: the 1/√d scale folded in (scores of spread ~1); k|v one
                    // (B, M, 2C) projection whose halves the library reads in place
                    NDArray q = mul(t.randomNormal(new Shape(b, n, c)), (float) (1 / Math.sqrt(d)))
                            .toType(DataType.FLOAT16, false);
                    NDArray kv = t.randomNormal(new Shape(b, keys, 2 * c)).toType(DataType.FLOAT16, false);
                    long hq = NativeOps.h(q);
                    long hkv = NativeOps.h(kv);
                    NDArray q32 = q.toType(DataType.FLOAT32, false);
                    NDArray kv32 = kv.toType(DataType.FLOAT32, false);
                    NDArray exact;
                    NDArray sdpa;
                    NDArray ours;
                    boolean kernel;
                    boolean offFallsBack;
                    try {
                        NativeOps.VAE_ATTENTION_FP16.set(false); // the oracle: float32 SDPA throughout
                        exact = NativeOps.wrap(q, NativeOps.crossAttentionCore(NativeOps.h(q32), NativeOps.h(kv32),
                                heads));
                        NativeOps.CROSS_ATTENTION_KERNEL.set(false);
                        offFallsBack = !NativeOps.crossAttentionKernel(hq, hkv, heads);
                        sdpa = NativeOps.wrap(q, NativeOps.crossAttentionCore(hq, hkv, heads));
                        NativeOps.CROSS_ATTENTION_KERNEL.set(true);
                        kernel = NativeOps.crossAttentionKernel(hq, hkv, heads);
                        ours = NativeOps.wrap(q, NativeOps.crossAttentionCore(hq, hkv, heads));
                        // a GPU the kernel is not built for: the launch fell back, and says so from now on
                        kernel &= NativeOps.crossAttentionKernel(hq, hkv, heads);
                    } finally {
                        NativeOps.VAE_ATTENTION_FP16.set(null);
                        NativeOps.CROSS_ATTENTION_KERNEL.set(null);
                    }
                    boolean expected = built && d == 40 && keys <= 128;
                    String label = String.format(Locale.ROOT, "q %-16s heads %2d d %3d keys %3d %s", q.getShape(), heads,
                            d, keys, kernel ? "ours" : "fallback (SDPA)");
                    ok &= attentionVerdict(out, label, kernel, expected, offFallsBack, ours, q.getShape(), exact, sdpa);
                }
            }
        }
        return ok;
    }

    /** Whether the library has this attention kernel; where not, says the section is skipped. */
    private static boolean attentionKernelLinked(PrintStream out, NativeOps.Switch kernel, String what) {
        if (!kernel.linked()) {
            out.println("  the library has no " + what + " kernel (built before it): skipped");
        }
        return kernel.linked();
    }

    /**
     * Whether the attention kernels (self_attention.cu) are built for this GPU ({@link
     * NativeOps#selfAttentionKernelBuilt()}, which answers for both); where not, says every case must take SDPA.
     */
    private static boolean attentionKernelBuilt(PrintStream out) {
        boolean built = NativeOps.selfAttentionKernelBuilt();
        if (!built) {
            out.println("  (no kernel for this GPU: compute capability 9.0 and a library built for sm_90a take it; every"
                    + " case below must take SDPA)");
        }
        return built;
    }

    /**
     * The verdict of one attention kernel case (self- or cross-attention): the path taken must be the expected one
     * (and SDPA when switched off), the output fp16 of the given shape, and its max abs error against the fp32 oracle
     * at most {@link #CROSS_ATTENTION_MAX_ABS} and at most {@link #CROSS_ATTENTION_MAX_RATIO} times fp16 SDPA's.
     * Prints one line; returns whether it passed.
     */
    private static boolean attentionVerdict(PrintStream out, String label, boolean kernel, boolean expected,
            boolean offFallsBack, NDArray ours, Shape shape, NDArray exact, NDArray sdpa) {
        return attentionVerdict(out, label, kernel, expected, offFallsBack, ours, shape, DataType.FLOAT16, exact, sdpa);
    }

    /** {@link #attentionVerdict} for an output of the given type (the wide-head path's float32 case). */
    private static boolean attentionVerdict(PrintStream out, String label, boolean kernel, boolean expected,
            boolean offFallsBack, NDArray ours, Shape shape, DataType type, NDArray exact, NDArray sdpa) {
        if (kernel != expected || !offFallsBack) {
            out.printf(Locale.ROOT, "  %s: expected the %s path%s -> FAIL%n", label, expected ? "ours" : "fallback",
                    offFallsBack ? "" : " (and SDPA when switched off)");
            return false;
        }
        if (!ours.getShape().equals(shape) || ours.getDataType() != type) {
            out.printf(Locale.ROOT, "  %s: output %s %s, not %s %s -> FAIL%n", label, ours.getShape(),
                    ours.getDataType(), shape, type);
            return false;
        }
        float maxOurs = exact.sub(ours.toType(DataType.FLOAT32, false)).abs().max().getFloat();
        float maxSdpa = exact.sub(sdpa.toType(DataType.FLOAT32, false)).abs().max().getFloat();
        boolean pass = attentionErrorPasses(maxOurs, maxSdpa, exact.abs().max().getFloat(), type);
        out.printf(Locale.ROOT, "  %s: max abs error ours %.5f, SDPA fp16 %.5f -> %s%n", label, maxOurs, maxSdpa,
                pass ? "PASS" : "FAIL");
        return pass;
    }

    /**
     * Whether an attention output's largest absolute error against the fp32 oracle passes: at most {@link
     * #CROSS_ATTENTION_MAX_ABS}, and at most {@link #CROSS_ATTENTION_MAX_RATIO} times SDPA's own error on the same inputs
     * or one unit in the last place of the output's type at the oracle's largest magnitude, whichever is larger. The
     * floor: an output rounded to fp16 is already up to half an ulp off the oracle, so where SDPA happens to be that
     * close (a max error of 6e-5 at outputs up to ~0.3, half an fp16 ulp there), a kernel one rounding step away (1.2e-4)
     * is as exact and must not fail on the ratio (H200, 2026-12-01: the wide-head case (1, 4096, 512) read 0.00012 against
     * SDPA's 0.00006 in one run, 0.00009 against 0.00006 in others: the inputs are drawn afresh each run).
     *
     * @param maxOurs  max |ours − oracle|
     * @param maxSdpa  max |SDPA − oracle|
     * @param maxExact max |oracle|
     * @param type     the output's type, {@link DataType#FLOAT16} or {@link DataType#FLOAT32}
     */
    static boolean attentionErrorPasses(double maxOurs, double maxSdpa, double maxExact, DataType type) {
        double ulp = type == DataType.FLOAT16 ? fp16Ulp(maxExact) : Math.ulp((float) maxExact);
        return maxOurs <= CROSS_ATTENTION_MAX_ABS && maxOurs <= Math.max(CROSS_ATTENTION_MAX_RATIO * maxSdpa, ulp);
    }

    /** The spacing of fp16 values at magnitude {@code v}: 2^(e−10) for v in [2^e, 2^(e+1)), 2^−24 below fp16's normals. */
    static double fp16Ulp(double v) {
        double a = Math.abs(v);
        if (a < 0x1p-14) {
            return 0x1p-24;
        }
        return Math.scalb(1.0, Math.getExponent(a) - 10);
    }

    private boolean groupNorm(Device gpu, PrintStream out) {
        out.println("== NHWC GroupNorm kernels and the float32 split statistics vs PyTorch's group_norm (fp16 on CUDA;"
                + " oracle: fp32)");
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : groupNorm) {
                for (float offset : new float[] {0f, 40f}) {
                    for (boolean silu : new boolean[] {false, true}) {
                        try (NDManager t = m.newSubManager()) {
                            Shape shape = new Shape(sh);
                            NDArray x = add(mul(t.randomNormal(shape), 2f), offset).toType(DataType.FLOAT16, false);
                            NDArray gamma = t.randomNormal(new Shape(sh[1])).toType(DataType.FLOAT16, false);
                            NDArray beta = t.randomNormal(new Shape(sh[1])).toType(DataType.FLOAT16, false);
                            NDArray x32 = x.toType(DataType.FLOAT32, false);
                            NDArray g32 = gamma.toType(DataType.FLOAT32, false);
                            NDArray b32 = beta.toType(DataType.FLOAT32, false);
                            NDArray exact;
                            NDArray split;
                            try {
                                NativeOps.FP32_GROUPNORM.set(false); // the oracle: PyTorch's group_norm in fp32
                                exact = NativeOps.groupNorm(x32, 32, g32, b32, 1e-5, silu);
                                NativeOps.FP32_GROUPNORM.set(true);
                                split = NativeOps.groupNorm(x32, 32, g32, b32, 1e-5, silu);
                            } finally {
                                NativeOps.FP32_GROUPNORM.set(null);
                            }
                            NDArray torch16 = NativeOps.groupNorm(x, 32, gamma, beta, 1e-5, silu);
                            NDArray xc = NativeOps.toChannelsLast(x);
                            String label = String.format(Locale.ROOT, "%-18s offset %2.0f silu %-5s", shape, offset, silu);
                            long hw = sh[2] * sh[3];
                            for (Boolean onePass : onePassSettings()) { // one launch where it applies, and three
                                NDArray ours = withOnePass(onePass,
                                        () -> NativeOps.groupNorm(xc, 32, gamma, beta, 1e-5, silu));
                                String l = label + pathLabel(onePass, hw, sh[1], 32);
                                ok &= matches(out, l, exact, ours, torch16);
                                ok &= groupNormPath(out, l, onePass, hw, sh[1], 32);
                            }
                            ok &= matches(out, label + " fp32 split statistics", exact, split, torch16);
                        }
                    }
                }
            }
        }
        return ok;
    }

    private boolean geglu(Device gpu, PrintStream out) {
        out.println("== GEGLU gate kernel vs PyTorch (fp16 on CUDA; oracle: fp32)");
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : geglu) {
                try (NDManager t = m.newSubManager()) {
                    NDArray h = mul(t.randomNormal(new Shape(sh)), 1.5f).toType(DataType.FLOAT16, false);
                    NDArray exact = NativeOps.gegluGate(h.toType(DataType.FLOAT32, false));
                    NDArray ours = NativeOps.gegluGate(h);
                    NDArray torch16 = h.get("..., :" + sh[1] / 2).mul(h.get("..., " + sh[1] / 2 + ":")
                            .getNDArrayInternal().gelu());
                    ok &= matches(out, String.format(Locale.ROOT, "%-18s", new Shape(sh)), exact, ours, torch16);
                }
            }
        }
        return ok;
    }

    private boolean biasAdd(Device gpu, PrintStream out) {
        out.println("== NHWC bias (+ per-sample bias | + residual) add kernel vs PyTorch's adds (fp16 on CUDA; oracle: fp32)");
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : biasAdd) {
                for (String with : new String[] {"bias", "bias+per-sample", "bias+shared-row", "bias+residual"}) {
                    try (NDManager t = m.newSubManager()) {
                        Shape shape = new Shape(sh);
                        NDArray y = mul(t.randomNormal(shape), 3f).toType(DataType.FLOAT16, false);
                        NDArray b = t.randomNormal(new Shape(sh[1])).toType(DataType.FLOAT16, false);
                        long rows = with.equals("bias+shared-row") ? 1 : sh[0]; // one time embedding for all
                        NDArray nb = with.equals("bias+per-sample") || with.equals("bias+shared-row")
                                ? t.randomNormal(new Shape(rows, sh[1])).toType(DataType.FLOAT16, false) : null;
                        NDArray r = with.equals("bias+residual")
                                ? mul(t.randomNormal(shape), 3f).toType(DataType.FLOAT16, false) : null;
                        NDArray exact = y.toType(DataType.FLOAT32, false).add(b.toType(DataType.FLOAT32, false)
                                .reshape(1, sh[1], 1, 1));
                        NDArray torch16 = y.add(b.reshape(1, sh[1], 1, 1));
                        if (nb != null) {
                            exact = exact.add(nb.toType(DataType.FLOAT32, false).reshape(rows, sh[1], 1, 1));
                            torch16 = torch16.add(nb.reshape(rows, sh[1], 1, 1));
                        }
                        if (r != null) {
                            exact = exact.add(r.toType(DataType.FLOAT32, false));
                            torch16 = torch16.add(r);
                        }
                        NDArray yc = NativeOps.toChannelsLast(y);
                        NDArray rc = r == null ? null : NativeOps.toChannelsLast(r);
                        NDArray ours = NativeOps.wrap(yc, NativeOps.biasAdd(NativeOps.h(yc), NativeOps.h(b),
                                NativeOps.h(nb), NativeOps.h(rc)));
                        ok &= matches(out, String.format(Locale.ROOT, "%-18s %-16s", shape, with), exact, ours, torch16);
                    }
                }
            }
        }
        return ok;
    }

    private boolean layerNorm(Device gpu, PrintStream out) {
        out.println("== LayerNorm kernel (alone and after a residual add) vs PyTorch's layer_norm (fp16 on CUDA; oracle: fp32)");
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : layerNorm) {
                for (float offset : new float[] {0f, 40f}) {
                    for (boolean add : new boolean[] {false, true}) {
                        try (NDManager t = m.newSubManager()) {
                            Shape shape = new Shape(sh);
                            Shape norm = new Shape(sh[1]);
                            NDArray x = add(mul(t.randomNormal(shape), 2f), offset).toType(DataType.FLOAT16, false);
                            NDArray d = t.randomNormal(shape).toType(DataType.FLOAT16, false);
                            NDArray gamma = t.randomNormal(norm).toType(DataType.FLOAT16, false);
                            NDArray beta = t.randomNormal(norm).toType(DataType.FLOAT16, false);
                            NDArray ours;
                            NDArray in = x;
                            if (add) {
                                NDArray[] r = NativeOps.addLayerNorm(x, d, gamma, beta, 1e-5);
                                in = x.add(d); // PyTorch's fp16 add: the sum must match bit for bit
                                float diff = in.toType(DataType.FLOAT32, false).sub(r[0].toType(DataType.FLOAT32, false))
                                        .abs().max().getFloat();
                                if (diff != 0f) {
                                    out.printf(Locale.ROOT, "  %-18s offset %2.0f add: sum differs from PyTorch's by %.4f -> FAIL%n",
                                            shape, offset, diff);
                                    ok = false;
                                }
                                ours = r[1];
                            } else {
                                ours = NativeOps.layerNorm(x, gamma, beta, 1e-5);
                            }
                            NDArray exact = LayerNorm.layerNorm(in.toType(DataType.FLOAT32, false), norm,
                                    gamma.toType(DataType.FLOAT32, false), beta.toType(DataType.FLOAT32, false), 1e-5f).head();
                            NDArray torch16 = LayerNorm.layerNorm(in, norm, gamma, beta, 1e-5f).head();
                            ok &= matches(out, String.format(Locale.ROOT, "%-18s offset %2.0f add %-5s", shape, offset, add),
                                    exact, ours, torch16);
                        }
                    }
                }
            }
        }
        return ok;
    }

    private boolean biasGroupNorm(Device gpu, PrintStream out) {
        out.println("== NHWC GroupNorm + SiLU of x + bias + per-sample bias (one pass less) vs PyTorch's adds and"
                + " group_norm (fp16 on CUDA; oracle: fp32 on the sum rounded to fp16 once, as the bias add writes it)");
        if (!NativeOps.FUSED_BIAS_NORM.linked()) {
            out.println("  the library has no biasGroupNorm (built before it): skipped");
            return true;
        }
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : biasGroupNorm) {
                int groups = (int) sh[4];
                long c = sh[1];
                Shape shape = new Shape(sh[0], c, sh[2], sh[3]);
                for (float offset : new float[] {0f, 40f}) {
                    for (String with : new String[] {"per-sample", "shared-row", "bias-only", "row-major"}) {
                        try (NDManager t = m.newSubManager()) {
                            NDArray x = add(mul(t.randomNormal(shape), 2f), offset).toType(DataType.FLOAT16, false);
                            NDArray b = t.randomNormal(new Shape(c)).toType(DataType.FLOAT16, false);
                            long rows = with.equals("shared-row") ? 1 : sh[0];
                            NDArray nb = with.equals("bias-only") ? null
                                    : t.randomNormal(new Shape(rows, c)).toType(DataType.FLOAT16, false);
                            NDArray gamma = t.randomNormal(new Shape(c)).toType(DataType.FLOAT16, false);
                            NDArray beta = t.randomNormal(new Shape(c)).toType(DataType.FLOAT16, false);
                            // the oracle: the sum in fp32, rounded to fp16 once (as bias_add writes it), normalised in fp32
                            NDArray sum32 = x.toType(DataType.FLOAT32, false)
                                    .add(b.toType(DataType.FLOAT32, false).reshape(1, c, 1, 1));
                            NDArray torch16 = x.add(b.reshape(1, c, 1, 1)); // PyTorch's fp16 adds
                            if (nb != null) {
                                sum32 = sum32.add(nb.toType(DataType.FLOAT32, false).reshape(rows, c, 1, 1));
                                torch16 = torch16.add(nb.reshape(rows, c, 1, 1));
                            }
                            NDArray pre = sum32.toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false);
                            NDArray exact;
                            try {
                                NativeOps.FP32_GROUPNORM.set(false); // PyTorch's group_norm in fp32
                                exact = NativeOps.groupNorm(pre, groups, gamma.toType(DataType.FLOAT32, false),
                                        beta.toType(DataType.FLOAT32, false), 1e-5, true);
                            } finally {
                                NativeOps.FP32_GROUPNORM.set(null);
                            }
                            torch16 = NativeOps.groupNorm(torch16, groups, gamma, beta, 1e-5, true); // NCHW: PyTorch's
                            boolean rowMajor = with.equals("row-major");
                            long hw = sh[2] * sh[3];
                            // our kernels in one launch where it applies, and in three; the fallback once
                            for (Boolean onePass : rowMajor ? new Boolean[] {null} : onePassSettings()) {
                                // copies: biasGroupNorm may overwrite its input (its fallback adds in place)
                                NDArray in = rowMajor ? x.duplicate() : NativeOps.toChannelsLast(x);
                                NDArray ours = withOnePass(onePass,
                                        () -> NativeOps.biasGroupNorm(in, b, nb, groups, gamma, beta, 1e-5, true));
                                String label = String.format(Locale.ROOT, "%-18s G %2d offset %2.0f %-10s%s", shape,
                                        groups, offset, with, pathLabel(onePass, hw, c, groups));
                                if (!rowMajor) { // against our unfused kernels: bias add, then GroupNorm
                                    NDArray y = NativeOps.toChannelsLast(x);
                                    NDArray sum = NativeOps.wrap(y, NativeOps.biasAdd(NativeOps.h(y), NativeOps.h(b),
                                            NativeOps.h(nb), 0L));
                                    NDArray unfused = withOnePass(onePass,
                                            () -> NativeOps.groupNorm(sum, groups, gamma, beta, 1e-5, true));
                                    float d = unfused.toType(DataType.FLOAT32, false)
                                            .sub(ours.toType(DataType.FLOAT32, false)).abs().max().getFloat();
                                    label += String.format(Locale.ROOT, " (unfused kernels: max diff %.4f)", d);
                                    ok &= groupNormPath(out, label, onePass, hw, c, groups);
                                }
                                ok &= matches(out, label, exact, ours, torch16);
                            }
                        }
                    }
                }
            }
        }
        return ok;
    }

    private boolean conv1x1(Device gpu, PrintStream out) {
        out.println("== 1x1 convolutions of channels-last inputs as matrix products vs cuDNN's convolution (fp16 on CUDA;"
                + " oracle: the fp32 matrix product)");
        if (!NativeOps.CONV1X1_GEMM.linked()) {
            out.println("  the library has no 1x1-convolution GEMM path (built before it): skipped");
            return true;
        }
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : conv1x1) {
                long cin = sh[1];
                long cout = sh[4];
                Shape shape = new Shape(sh[0], cin, sh[2], sh[3]);
                Shape outShape = new Shape(sh[0], cout, sh[2], sh[3]);
                for (boolean withResidual : new boolean[] {false, true}) {
                    try (NDManager t = m.newSubManager()) {
                        NDArray x = t.randomNormal(shape).toType(DataType.FLOAT16, false);
                        NDArray w = mul(t.randomNormal(new Shape(cout, cin, 1, 1)), (float) (1 / Math.sqrt(cin)))
                                .toType(DataType.FLOAT16, false);
                        NDArray b = t.randomNormal(new Shape(cout)).toType(DataType.FLOAT16, false);
                        NDArray r = withResidual ? t.randomNormal(outShape).toType(DataType.FLOAT16, false) : null;
                        // the oracle: (B·H·W, Cin) x (Cin, Cout) in fp32, + bias (+ residual), back to (B, Cout, H, W)
                        NDArray rows = x.toType(DataType.FLOAT32, false).transpose(0, 2, 3, 1).reshape(-1, cin);
                        NDArray exact = rows.matMul(w.toType(DataType.FLOAT32, false).reshape(cout, cin).transpose())
                                .add(b.toType(DataType.FLOAT32, false));
                        if (r != null) {
                            exact = exact.add(r.toType(DataType.FLOAT32, false).transpose(0, 2, 3, 1).reshape(-1, cout));
                        }
                        exact = exact.reshape(sh[0], sh[2], sh[3], cout).transpose(0, 3, 1, 2);
                        // as the models hold them: channels-last activations and weights
                        NDArray xc = NativeOps.toChannelsLast(x);
                        NDArray wc = NativeOps.toChannelsLast(w);
                        NDArray rc = r == null ? null : NativeOps.toChannelsLast(r);
                        NDArray cudnn;
                        NDArray ours;
                        try {
                            NativeOps.CONV1X1_GEMM.set(false);
                            cudnn = NativeOps.wrap(xc, NativeOps.conv2d(NativeOps.h(xc), NativeOps.h(wc), NativeOps.h(b),
                                    1, 0, 0L, NativeOps.h(rc)));
                            NativeOps.CONV1X1_GEMM.set(true);
                            ours = NativeOps.wrap(xc, NativeOps.conv2d(NativeOps.h(xc), NativeOps.h(wc), NativeOps.h(b),
                                    1, 0, 0L, NativeOps.h(rc)));
                        } finally {
                            NativeOps.CONV1X1_GEMM.set(null);
                        }
                        String label = String.format(Locale.ROOT, "%-18s -> %4d %-13s", shape, cout,
                                withResidual ? "bias+residual" : "bias");
                        // the product's memory is the channels-last output: a view, no copy
                        boolean layout = ours.getShape().equals(outShape) && (NativeOps.isChannelsLast(NativeOps.h(ours))
                                || sh[2] * sh[3] == 1);
                        if (!layout) {
                            out.printf(Locale.ROOT, "  %s: output %s is not channels-last -> FAIL%n", label,
                                    ours.getShape());
                            ok = false;
                        }
                        ok &= matches(out, label, exact, ours, cudnn);
                    }
                }
            }
        }
        return ok;
    }

    private boolean linearResidual(Device gpu, PrintStream out) {
        out.println("== linear + bias + residual in one cuBLASLt product vs at::linear + add, the plain linear's"
                + " cuBLASLt product (SD_LT_AUTOTUNE: its tuned algorithm) vs at::linear, and every candidate algorithm"
                + " autotuning chooses from (fp16 on CUDA; oracle: the fp32 product + bias (+ residual))");
        if (!NativeOps.LT_RESIDUAL.linked()) {
            out.println("  the library has no linear + residual product (built before it): skipped");
            return true;
        }
        boolean tuning = NativeOps.LT_AUTOTUNE.linked();
        if (!tuning) {
            out.println("  the library has no cuBLASLt autotuning (built before it): the residual products alone");
        }
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : linearResidual) {
                long k = sh[2];
                long n = sh[3];
                for (boolean withBias : new boolean[] {true, false}) {
                    try (NDManager t = m.newSubManager()) {
                        NDArray x = t.randomNormal(new Shape(sh[0], sh[1], k)).toType(DataType.FLOAT16, false);
                        NDArray w = mul(t.randomNormal(new Shape(n, k)), (float) (1 / Math.sqrt(k)))
                                .toType(DataType.FLOAT16, false);
                        NDArray b = withBias ? t.randomNormal(new Shape(n)).toType(DataType.FLOAT16, false) : null;
                        NDArray r = t.randomNormal(new Shape(sh[0], sh[1], n)).toType(DataType.FLOAT16, false);
                        NDArray plain = x.toType(DataType.FLOAT32, false)
                                .matMul(w.toType(DataType.FLOAT32, false).transpose());
                        if (b != null) {
                            plain = plain.add(b.toType(DataType.FLOAT32, false));
                        }
                        NDArray exact = plain.add(r.toType(DataType.FLOAT32, false));
                        NDArray torch16;
                        NDArray ours;
                        boolean fused;
                        try {
                            NativeOps.LT_RESIDUAL.set(false);
                            torch16 = NativeOps.linearResidual(x, w, b, r);
                            NativeOps.LT_RESIDUAL.set(true);
                            fused = NativeOps.linearResidualFused(NativeOps.h(x), NativeOps.h(w), NativeOps.h(b),
                                    NativeOps.h(r));
                            ours = NativeOps.linearResidual(x, w, b, r);
                        } finally {
                            NativeOps.LT_RESIDUAL.set(null);
                        }
                        boolean expected = k % 8 == 0 && n % 8 == 0;
                        String label = String.format(Locale.ROOT, "%-18s -> %4d %-9s", x.getShape(), n,
                                withBias ? "bias" : "no bias");
                        ok &= checkProduct(out, label + " +residual " + (fused ? "cuBLASLt" : "fallback"), expected,
                                fused, exact, ours, torch16);
                        if (tuning) {
                            ok &= linearTuned(out, label, expected, x, w, b, plain);
                            ok &= candidates(out, label, expected, x, w, b, null, plain);
                            ok &= candidates(out, label + " +residual", expected, x, w, b, r, exact);
                        }
                    }
                }
            }
        }
        return ok;
    }

    /**
     * One product case: the path taken is the expected one ({@code fused}: cuBLASLt, else the fallback) and {@code
     * ours} {@link #matches} the oracle as well as {@code torch16} does; one line.
     */
    private static boolean checkProduct(PrintStream out, String label, boolean expected, boolean fused, NDArray exact,
            NDArray ours, NDArray torch16) {
        boolean ok = true;
        if (fused != expected) {
            out.printf(Locale.ROOT, "  %s: expected the %s path -> FAIL%n", label, expected ? "cuBLASLt" : "fallback");
            ok = false;
        }
        if (!ours.getShape().equals(exact.getShape())) {
            out.printf(Locale.ROOT, "  %s: output %s, not %s -> FAIL%n", label, ours.getShape(), exact.getShape());
            return false;
        }
        return matches(out, label, exact, ours, torch16) && ok;
    }

    /**
     * The plain linear ({@code NativeOps.linear}) with {@code SD_LT_AUTOTUNE} on (cuBLASLt with the algorithm tuned for
     * this shape, timed on its first call here where the shape is new) against {@code at::linear} (switched off, which
     * must not take cuBLASLt's path); one line.
     */
    private static boolean linearTuned(PrintStream out, String label, boolean expected, NDArray x, NDArray w, NDArray b,
            NDArray exact) {
        NDArray torch16;
        NDArray ours;
        boolean offFused;
        boolean fused;
        try {
            NativeOps.LT_AUTOTUNE.set(false);
            offFused = NativeOps.linearFused(NativeOps.h(x), NativeOps.h(w), NativeOps.h(b));
            torch16 = NativeOps.wrap(x, NativeOps.linear(NativeOps.h(x), NativeOps.h(w), NativeOps.h(b)));
            NativeOps.LT_AUTOTUNE.set(true);
            fused = NativeOps.linearFused(NativeOps.h(x), NativeOps.h(w), NativeOps.h(b));
            ours = NativeOps.wrap(x, NativeOps.linear(NativeOps.h(x), NativeOps.h(w), NativeOps.h(b)));
        } finally {
            NativeOps.LT_AUTOTUNE.set(null);
        }
        String path = label + " linear    " + (fused ? "cuBLASLt tuned" : "fallback");
        if (offFused) {
            out.printf(Locale.ROOT, "  %s: cuBLASLt's path with SD_LT_AUTOTUNE off -> FAIL%n", path);
        }
        return checkProduct(out, path, expected, fused, exact, ours, torch16) && !offFused;
    }

    /**
     * Every candidate algorithm cuBLASLt offers for {@code x·wᵀ + b [+ r]} (those autotuning times, {@code
     * NativeOps.linearCandidates}), each within {@link #matches}' bounds of the oracle against PyTorch's own fp16
     * result ({@code at::linear} [+ add]); one line with the worst. Where the operands fit ({@code expected}) there
     * must be at least one, and one that ran; otherwise none.
     */
    private static boolean candidates(PrintStream out, String label, boolean expected, NDArray x, NDArray w, NDArray b,
            NDArray r, NDArray exact) {
        long[] handles = NativeOps.linearCandidates(NativeOps.h(x), NativeOps.h(w), NativeOps.h(b), NativeOps.h(r));
        NDArray torch16;
        try {
            NativeOps.LT_AUTOTUNE.set(false);
            NativeOps.LT_RESIDUAL.set(false);
            torch16 = r == null ? NativeOps.wrap(x, NativeOps.linear(NativeOps.h(x), NativeOps.h(w), NativeOps.h(b)))
                    : NativeOps.linearResidual(x, w, b, r);
        } finally {
            NativeOps.LT_AUTOTUNE.set(null);
            NativeOps.LT_RESIDUAL.set(null);
        }
        float[] torch = errors(exact, torch16);
        int ran = 0;
        boolean pass = true;
        float[] worst = {0f, 0f};
        int worstAt = -1;
        for (int i = 0; i < handles.length; i++) {
            if (handles[i] == 0) {
                continue;
            }
            NDArray y = NativeOps.wrap(x, handles[i]);
            ran++;
            float[] e = y.getShape().equals(exact.getShape()) ? errors(exact, y)
                    : new float[] {Float.POSITIVE_INFINITY, Float.POSITIVE_INFINITY};
            pass &= within(e, torch);
            if (worstAt < 0 || e[0] > worst[0]) {
                worst = e;
                worstAt = i;
            }
        }
        boolean countOk = expected ? ran > 0 : handles.length == 0;
        String verdict = pass && countOk ? "PASS"
                : "FAIL" + (countOk ? "" : expected ? " (none ran)" : " (expected none: not an fp16 cuBLASLt fit)");
        String worstRun = worstAt < 0 ? ""
                : String.format(Locale.ROOT, ", worst #%d max %.4f mean %.5f", worstAt, worst[0], worst[1]);
        out.printf(Locale.ROOT, "  %s %d candidate algorithm(s), %d ran%s; PyTorch fp16 max %.4f mean %.5f -> %s%n",
                label + (r == null ? " linear   " : ""), handles.length, ran, worstRun, torch[0], torch[1], verdict);
        return pass && countOk;
    }

    private boolean catGroupNorm(Device gpu, PrintStream out) {
        out.println("== NHWC GroupNorm (+ SiLU) of two parts read in place (an up block's input and skip connection) vs"
                + " the kernels on their concatenation (fp16 on CUDA; must be bit for bit equal)");
        if (!NativeOps.UPBLOCK_NO_CAT.linked()) {
            out.println("  the library has no up-block functions (built before them): skipped");
            return true;
        }
        boolean ok = true;
        // the parts read in place wherever they fit, whatever SD_UPBLOCK_NO_CAT and SD_CONV1X1_GEMM say
        NativeOps.UPBLOCK_NO_CAT.set(true);
        NativeOps.CONV1X1_GEMM.set(true);
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : catGroupNorm) {
                int groups = (int) sh[5];
                long c1 = sh[1];
                long c2 = sh[2];
                boolean fits = c1 % 8 == 0 && c2 % 8 == 0; // what the kernels need of the parts
                for (float offset : new float[] {0f, 40f}) {
                    for (boolean silu : new boolean[] {false, true}) {
                        try (NDManager t = m.newSubManager()) {
                            NDArray x1 = add(mul(t.randomNormal(new Shape(sh[0], c1, sh[3], sh[4])), 2f), offset)
                                    .toType(DataType.FLOAT16, false);
                            NDArray x2 = add(mul(t.randomNormal(new Shape(sh[0], c2, sh[3], sh[4])), 2f), offset)
                                    .toType(DataType.FLOAT16, false);
                            NDArray gamma = t.randomNormal(new Shape(c1 + c2)).toType(DataType.FLOAT16, false);
                            NDArray beta = t.randomNormal(new Shape(c1 + c2)).toType(DataType.FLOAT16, false);
                            NDArray p1 = NativeOps.toChannelsLast(x1);
                            NDArray p2 = NativeOps.toChannelsLast(x2);
                            boolean inPlace = NativeOps.catPartsFit(NativeOps.h(p1), NativeOps.h(p2), groups);
                            NDArray cat = NativeOps.toChannelsLast(p1.concat(p2, 1));
                            long hw = sh[3] * sh[4];
                            for (Boolean onePass : onePassSettings()) { // one launch where it applies, and three
                                NDArray ours = withOnePass(onePass,
                                        () -> NativeOps.catGroupNorm(p1, p2, groups, gamma, beta, 1e-5, silu));
                                NDArray ref = withOnePass(onePass,
                                        () -> NativeOps.groupNorm(cat, groups, gamma, beta, 1e-5, silu));
                                float d = ref.toType(DataType.FLOAT32, false).sub(ours.toType(DataType.FLOAT32, false))
                                        .abs().max().getFloat();
                                boolean layout = ours.getShape().equals(cat.getShape())
                                        && NativeOps.isChannelsLast(NativeOps.h(ours));
                                String label = String.format(Locale.ROOT, "%-16s + %-16s G %2d offset %2.0f silu %-5s%s",
                                        new Shape(sh[0], c1, sh[3], sh[4]), new Shape(sh[0], c2, sh[3], sh[4]), groups,
                                        offset, silu, pathLabel(onePass, hw, c1 + c2, groups));
                                boolean pass = d == 0f && layout && inPlace == fits;
                                out.printf(Locale.ROOT, "  %s: %s, max diff to the concatenation's %.4f%s -> %s%n", label,
                                        inPlace ? "read in place" : "concatenated", d,
                                        layout ? "" : ", not channels-last", pass ? "PASS" : "FAIL");
                                ok &= pass & groupNormPath(out, label, onePass, hw, c1 + c2, groups);
                            }
                        }
                    }
                }
            }
        } finally {
            NativeOps.UPBLOCK_NO_CAT.set(null);
            NativeOps.CONV1X1_GEMM.set(null);
        }
        return ok;
    }

    private boolean catConv1x1(Device gpu, PrintStream out) {
        out.println("== 1x1 convolution of two parts as two matrix products (an up block's conv_shortcut) vs the"
                + " concatenation's one product (fp16 on CUDA; oracle: the fp32 product)");
        if (!NativeOps.UPBLOCK_NO_CAT.linked()) {
            out.println("  the library has no up-block functions (built before them): skipped");
            return true;
        }
        boolean ok = true;
        NativeOps.UPBLOCK_NO_CAT.set(true); // as in catGroupNorm
        NativeOps.CONV1X1_GEMM.set(true);
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : catConv1x1) {
                long c1 = sh[1];
                long c2 = sh[2];
                long cin = c1 + c2;
                long cout = sh[5];
                boolean fits = c1 % 8 == 0 && c2 % 8 == 0;
                try (NDManager t = m.newSubManager()) {
                    NDArray x1 = t.randomNormal(new Shape(sh[0], c1, sh[3], sh[4])).toType(DataType.FLOAT16, false);
                    NDArray x2 = t.randomNormal(new Shape(sh[0], c2, sh[3], sh[4])).toType(DataType.FLOAT16, false);
                    NDArray w = mul(t.randomNormal(new Shape(cout, cin, 1, 1)), (float) (1 / Math.sqrt(cin)))
                            .toType(DataType.FLOAT16, false);
                    NDArray b = t.randomNormal(new Shape(cout)).toType(DataType.FLOAT16, false);
                    NDArray p1 = NativeOps.toChannelsLast(x1);
                    NDArray p2 = NativeOps.toChannelsLast(x2);
                    NDArray wc = NativeOps.toChannelsLast(w); // as the models hold it
                    NDArray cat = NativeOps.toChannelsLast(p1.concat(p2, 1));
                    boolean inPlace = NativeOps.catPartsFit(NativeOps.h(p1), NativeOps.h(p2), 8);
                    for (String when : new String[] {"weight as loaded", "after an in-place change"}) {
                        if (!when.equals("weight as loaded")) { // as a LoRA patch: the views must see it
                            wc.addi(mul(t.randomNormal(new Shape(cout, cin, 1, 1)), (float) (0.1 / Math.sqrt(cin)))
                                    .toType(DataType.FLOAT16, false));
                        }
                        NDArray rows = cat.toType(DataType.FLOAT32, false).transpose(0, 2, 3, 1).reshape(-1, cin);
                        NDArray exact = rows.matMul(wc.toType(DataType.FLOAT32, false).reshape(cout, cin).transpose())
                                .add(b.toType(DataType.FLOAT32, false))
                                .reshape(sh[0], sh[3], sh[4], cout).transpose(0, 3, 1, 2);
                        NDArray one = NativeOps.wrap(cat, NativeOps.conv2d(NativeOps.h(cat), NativeOps.h(wc),
                                NativeOps.h(b), 1, 0, 0L, 0L));
                        NDArray ours = NativeOps.catConv1x1(p1, p2, wc, b);
                        String label = String.format(Locale.ROOT, "%-16s + %-16s -> %4d %-24s (%s)",
                                new Shape(sh[0], c1, sh[3], sh[4]), new Shape(sh[0], c2, sh[3], sh[4]), cout, when,
                                inPlace ? "two products" : "concatenated");
                        boolean layout = ours.getShape().equals(one.getShape())
                                && (NativeOps.isChannelsLast(NativeOps.h(ours)) || sh[3] * sh[4] == 1);
                        if (!layout || inPlace != fits) {
                            out.printf(Locale.ROOT, "  %s: output %s%s -> FAIL%n", label, ours.getShape(),
                                    layout ? ", not the expected path" : ", not channels-last");
                            ok = false;
                        }
                        ok &= matches(out, label, exact, ours, one);
                    }
                }
            }
        } finally {
            NativeOps.UPBLOCK_NO_CAT.set(null);
            NativeOps.CONV1X1_GEMM.set(null);
        }
        return ok;
    }

    private boolean upsample(Device gpu, PrintStream out) {
        out.println("== nearest 2x upsampling kernel vs DJL's interpolation (at::upsample_nearest2d; fp16 and float32 on"
                + " CUDA; bit for bit)");
        if (!NativeOps.UPSAMPLE_KERNEL.linked()) {
            out.println("  the library has no nearest upsampling (built before it): skipped");
            return true;
        }
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : upsample) {
                long h = sh[4];
                long w = sh[5];
                boolean half = sh[6] == 16;
                boolean channelsLast = sh[7] == 1;
                try (NDManager t = m.newSubManager()) {
                    Shape shape = new Shape(sh[0], sh[1], sh[2], sh[3]);
                    NDArray x = t.randomNormal(shape).toType(half ? DataType.FLOAT16 : DataType.FLOAT32, false);
                    if (channelsLast) {
                        x = NativeOps.toChannelsLast(x);
                    }
                    NDArray djl = x.getNDArrayInternal().interpolation(new long[] {h, w}, 0, false);
                    boolean kernel;
                    boolean offFallsBack;
                    NDArray ours;
                    try {
                        NativeOps.UPSAMPLE_KERNEL.set(false);
                        offFallsBack = !NativeOps.upsampleNearestKernel(NativeOps.h(x), h, w);
                        NativeOps.UPSAMPLE_KERNEL.set(true);
                        kernel = NativeOps.upsampleNearestKernel(NativeOps.h(x), h, w);
                        ours = NativeOps.upsampleNearest(x, h, w);
                        // a GPU the kernel is not built for: the launch fell back, and says so from now on
                        kernel &= NativeOps.upsampleNearestKernel(NativeOps.h(x), h, w);
                    } finally {
                        NativeOps.UPSAMPLE_KERNEL.set(null);
                    }
                    boolean expected = h == 2 * sh[2] && w == 2 * sh[3] && channelsLast
                            && sh[1] * (half ? 2 : 4) % 16 == 0;
                    String label = String.format(Locale.ROOT, "%-20s -> %3dx%-3d %-7s %-12s %s", shape, h, w,
                            half ? "fp16" : "float32", channelsLast ? "channels-last" : "row-major",
                            kernel ? "ours" : "fallback");
                    if (kernel != expected || !offFallsBack) {
                        out.printf(Locale.ROOT, "  %s: expected the %s path%s -> FAIL%n", label,
                                expected ? "ours" : "fallback", offFallsBack ? "" : " (and the fallback when switched off)");
                        ok = false;
                        continue;
                    }
                    boolean layout = ours.getShape().equals(djl.getShape()) && ours.getDataType() == djl.getDataType()
                            && NativeOps.isChannelsLast(NativeOps.h(ours)) == NativeOps.isChannelsLast(NativeOps.h(djl));
                    if (!layout) {
                        out.printf(Locale.ROOT, "  %s: output %s %s channels-last %s, DJL's %s %s channels-last %s -> FAIL%n",
                                label, ours.getShape(), ours.getDataType(), NativeOps.isChannelsLast(NativeOps.h(ours)),
                                djl.getShape(), djl.getDataType(), NativeOps.isChannelsLast(NativeOps.h(djl)));
                        ok = false;
                        continue;
                    }
                    float diff = ours.toType(DataType.FLOAT32, false).sub(djl.toType(DataType.FLOAT32, false)).abs().max()
                            .getFloat();
                    boolean pass = diff == 0f;
                    out.printf(Locale.ROOT, "  %s: max diff %.4f -> %s%n", label, diff, pass ? "PASS" : "FAIL");
                    ok &= pass;
                }
            }
        }
        return ok;
    }

    private boolean fp8Linear(Device gpu, PrintStream out) {
        out.println("== FP8 linears: LayerNorm with FP8 output + cuBLASLt FP8 product of the folded weight vs our fp16"
                + " LayerNorm + at::linear (relative error < " + FP8_MAX_RELATIVE + "; the kernel's e4m3 values vs"
                + " PyTorch's conversion; the attention and GEGLU entries < " + FP8_ENTRY_MAX_RELATIVE + ")");
        String off = NativeOps.fp8Unsupported();
        if (off != null) {
            out.println("  skipped: " + off);
            return true;
        }
        boolean ok = true;
        double eps = 1e-5;
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : fp8Linear) {
                long rows = sh[0];
                long c = sh[1];
                long n = sh[2];
                double sx = Fp8Linear.inputScale(c);
                for (boolean add : new boolean[] {false, true}) {
                    try (NDManager t = m.newSubManager()) {
                        Shape shape = new Shape(2, rows / 2, c);
                        NDArray x = add(mul(t.randomNormal(shape), 2f), 3f).toType(DataType.FLOAT16, false);
                        NDArray d = add ? t.randomNormal(shape).toType(DataType.FLOAT16, false) : null;
                        NDArray gamma = add(mul(t.randomNormal(new Shape(c)), 0.5f), 1f).toType(DataType.FLOAT16, false);
                        NDArray beta = mul(t.randomNormal(new Shape(c)), 0.5f).toType(DataType.FLOAT16, false);
                        NDArray w = mul(t.randomNormal(new Shape(n, c)), (float) (1 / Math.sqrt(c)));
                        if (n == 3 * c || n == c) { // q's rows pre-scaled by 1/√64, as Attention holds them
                            w = mul(w.get("0:" + c), 0.125f).concat(w.get(c + ":"), 0);
                        }
                        w = w.toType(DataType.FLOAT16, false);
                        NDArray b = mul(t.randomNormal(new Shape(n)), 0.1f).toType(DataType.FLOAT16, false);
                        // the fp16 path: our LayerNorm kernel, at::linear
                        NDArray[] ln = add ? NativeOps.addLayerNorm(x, d, gamma, beta, eps)
                                : new NDArray[] {x, NativeOps.layerNorm(x, gamma, beta, eps)};
                        NDArray ref = NativeOps.wrap(x, NativeOps.linear(NativeOps.h(ln[1]), NativeOps.h(w),
                                NativeOps.h(b)));
                        // the FP8 path: the companion's weights (as Fp8Linear writes them), the norm's FP8 output,
                        // the FP8 product
                        NDArray w8 = t.zeros(new Shape(n, c), DataType.UINT8);
                        NDArray scales = t.zeros(new Shape(Fp8Linear.SCALE_SLOTS), DataType.FLOAT32);
                        NDArray b8 = t.zeros(new Shape(n), DataType.FLOAT16);
                        Fp8Linear.write(w, b, gamma, beta, sx, w8, scales, b8);
                        NDArray[] ln8 = NativeOps.layerNormFp8(x, d, eps, sx);
                        boolean fused = NativeOps.linearFp8Fused(NativeOps.h(ln8[1]), NativeOps.h(w8),
                                NativeOps.h(scales), NativeOps.h(b8));
                        NDArray ours = NativeOps.linearFp8(ln8[1], w8, scales, b8);
                        String label = String.format(Locale.ROOT, "%-18s -> %4d %-9s", shape, n, add ? "add+norm" : "norm");
                        if (add) { // the sum as addLayerNorm writes it, bit for bit
                            float diff = ln[0].toType(DataType.FLOAT32, false).sub(ln8[0].toType(DataType.FLOAT32, false))
                                    .abs().max().getFloat();
                            if (diff != 0f) {
                                out.printf(Locale.ROOT, "  %s: sum differs from addLayerNorm's by %.4f -> FAIL%n", label,
                                        diff);
                                ok = false;
                            }
                        }
                        ok &= fp8Values(out, label, ln[0], ln8[1], sx, eps);
                        ok &= relative(out, label + (fused ? " cuBLASLt FP8" : " fallback (no FP8 algorithm)"), ours, ref,
                                FP8_MAX_RELATIVE);
                        if (add) { // a LoRA patch: the weight changed in place, the companion rewritten in its buffers
                            // each weight changed by up to ~±30% (q's rows stay pre-scaled)
                            w.addi(w.mul(mul(t.randomNormal(new Shape(n, c)), 0.3f).toType(DataType.FLOAT16, false)));
                            gamma.addi(mul(t.randomNormal(new Shape(c)), 0.2f).toType(DataType.FLOAT16, false));
                            Fp8Linear.write(w, b, gamma, beta, sx, w8, scales, b8);
                            ln[1] = NativeOps.layerNorm(ln[0], gamma, beta, eps); // for the entries below too
                            NDArray patched = NativeOps.wrap(x, NativeOps.linear(NativeOps.h(ln[1]), NativeOps.h(w),
                                    NativeOps.h(b)));
                            ok &= relative(out, label + " after an in-place weight and γ change, rewritten in place",
                                    NativeOps.linearFp8(ln8[1], w8, scales, b8), patched, FP8_MAX_RELATIVE);
                        }
                        ok &= fp8Entry(out, label, t, ln[1], ln8[1], w, b, w8, scales, b8, c, n);
                    }
                }
            }
        }
        return ok;
    }

    /**
     * The kernel's e4m3 bytes against PyTorch's conversion of (s − mean)·rstd·s_x computed in fp32 from the same fp16
     * sum s: equal, or one e4m3 step apart (the statistics' last bits differ); one line.
     */
    private static boolean fp8Values(PrintStream out, String label, NDArray sum, NDArray y8, double sx, double eps) {
        long c = sum.getShape().get(sum.getShape().dimension() - 1);
        Shape norm = new Shape(c);
        NDManager m = sum.getManager();
        NDArray s32 = sum.toType(DataType.FLOAT32, false);
        NDArray bare = LayerNorm.layerNorm(s32, norm, m.ones(norm), m.zeros(norm), (float) eps).head();
        NDArray expected = NativeOps.wrap(sum, NativeOps.toFp8Bytes(NativeOps.h(mul(bare, (float) sx))));
        return e4m3Steps(out, label, expected, y8);
    }

    /**
     * e4m3 bytes {@code got} against {@code expected} (PyTorch's conversion): equal, or one e4m3 step apart; one line.
     */
    private static boolean e4m3Steps(PrintStream out, String label, NDArray expected, NDArray got) {
        byte[] a = expected.toByteArray();
        byte[] g = got.toByteArray();
        long unequal = 0;
        int maxSteps = a.length == g.length ? 0 : Integer.MAX_VALUE;
        for (int i = 0; i < Math.min(a.length, g.length); i++) {
            int steps = Math.abs(e4m3Order(a[i]) - e4m3Order(g[i]));
            unequal += steps == 0 ? 0 : 1;
            maxSteps = Math.max(maxSteps, steps);
        }
        boolean pass = maxSteps <= 1;
        out.printf(Locale.ROOT, "  %s e4m3 values: %d of %d differ from PyTorch's conversion, at most %d step(s) -> %s%n",
                label, unequal, a.length, maxSteps, pass ? "PASS" : "FAIL");
        return pass;
    }

    private boolean fp8FfOut(Device gpu, PrintStream out) {
        out.println("== FP8 ff.net.2: the GEGLU gate's FP8 output with per-row scales vs PyTorch's conversion of the fp32"
                + " gate (at most 1 e4m3 step; scales within " + FP8_SCALE_MAX_RELATIVE + " relative); the FP8 product"
                + " with per-token and per-feature scales + bias + residual vs the fp16 gate + linear_residual, and the"
                + " FP8 feed-forward entry vs its fp16 ff.net.2 (relative error < " + FP8_MAX_RELATIVE + "); the GEGLU"
                + " intermediate as e4m3 (SD_FP8_GEGLU): product, gate and entry");
        String off = NativeOps.fp8Unsupported();
        if (off == null && !NativeOps.FP8_FF_OUT.linked()) {
            off = "the native library has no FP8 ff.net.2 functions: rebuild it";
        }
        if (off != null) {
            out.println("  skipped: " + off);
            return true;
        }
        boolean ok = true;
        Random random = new Random(17);
        try (NDManager m = NDManager.newBaseManager(gpu)) {
            for (long[] sh : fp8FfOut) {
                long rows = sh[0];
                long inner = sh[1];
                long n = sh[2];
                try (NDManager t = m.newSubManager()) {
                    // rows of magnitudes 1/16 ... 16 (what per-row scales are for), the first all zero (its scale 1)
                    float[] f = new float[(int) rows];
                    for (int i = 1; i < f.length; i++) {
                        f[i] = (float) Math.scalb(1.0, random.nextInt(9) - 4);
                    }
                    NDArray h = t.randomNormal(new Shape(2, rows / 2, 2 * inner))
                            .mul(t.create(f, new Shape(2, rows / 2, 1))).toType(DataType.FLOAT16, false);
                    String label = String.format(Locale.ROOT, "%-18s -> %4d", new Shape(2, rows / 2, inner), n);
                    NDArray[] g8 = NativeOps.gegluGateFp8(h);
                    ok &= gateMatches(out, label, h, g8,
                            gateFp8Reference(NativeOps.gegluGate(h.toType(DataType.FLOAT32, false))));

                    NDArray w = mul(t.randomNormal(new Shape(n, inner)), (float) (1 / Math.sqrt(inner)))
                            .toType(DataType.FLOAT16, false);
                    NDArray b = mul(t.randomNormal(new Shape(n)), 0.1f).toType(DataType.FLOAT16, false);
                    NDArray r = t.randomNormal(new Shape(2, rows / 2, n)).toType(DataType.FLOAT16, false);
                    NDArray w8 = t.zeros(new Shape(n, inner), DataType.UINT8);
                    NDArray ws = t.zeros(new Shape(n), DataType.FLOAT32);
                    Fp8Linear.writeRows(w, w8, ws);
                    NDArray gate16 = NativeOps.gegluGate(h);
                    boolean fused = NativeOps.linearResidualFp8Fused(NativeOps.h(g8[0]), NativeOps.h(g8[1]),
                            NativeOps.h(w8), NativeOps.h(ws), NativeOps.h(b), NativeOps.h(r));
                    String path = fused ? " cuBLASLt FP8 (outer-vector scales)" : " fallback (no FP8 algorithm)";
                    ok &= relative(out, label + " product + bias + residual" + path,
                            NativeOps.linearResidualFp8(g8[0], g8[1], w8, ws, b, r),
                            NativeOps.linearResidual(gate16, w, b, r), FP8_MAX_RELATIVE);
                    // a LoRA patch: the weight changed in place by up to ~±30%, the companion rewritten in its buffers
                    w.addi(w.mul(mul(t.randomNormal(new Shape(n, inner)), 0.3f).toType(DataType.FLOAT16, false)));
                    Fp8Linear.writeRows(w, w8, ws);
                    ok &= relative(out, label + " after an in-place weight change, rewritten in place",
                            NativeOps.linearResidualFp8(g8[0], g8[1], w8, ws, b, r),
                            NativeOps.linearResidual(gate16, w, b, r), FP8_MAX_RELATIVE);
                    if (inner == 4 * n) {
                        ok &= feedForwardEntry(out, label, t, w, b, w8, ws, r, fused);
                        if (NativeOps.FP8_GEGLU.linked()) {
                            ok &= gegluE4m3(out, label, t, w, b, w8, ws, r, fused);
                        } else {
                            out.printf(Locale.ROOT, "  %s e4m3 GEGLU intermediate: skipped: the native library has no"
                                    + " e4m3 GEGLU functions: rebuild it%n", label);
                        }
                    }
                }
            }
        }
        return ok;
    }

    /**
     * A random ff.net.0.proj on a LayerNorm's FP8 output, as the FP8 feed-forward cases use it: x8 the e4m3 LayerNorm
     * output ({@code NativeOps.layerNormFp8}, s_x = {@code Fp8Linear.inputScale(C)}) of a random fp16 x of shape
     * {@code rs} (B, T, C); the companion of a random (2I, C) weight and bias folded with a random LayerNorm's gamma and
     * beta as {@code Fp8Linear.write} makes it (w08 (2I, C) e4m3 bytes, its scales, the fp16 bias b08), and with {@code
     * outScales} the static output scales ys (else null).
     */
    private record Ff0(NDArray x8, NDArray w08, NDArray scales, NDArray b08, NDArray ys) {
    }

    private static Ff0 randomFf0(NDManager t, Shape rs, long inner, boolean outScales) {
        long c = rs.get(2);
        double sx = Fp8Linear.inputScale(c);
        NDArray x = add(mul(t.randomNormal(rs), 2f), 3f).toType(DataType.FLOAT16, false);
        NDArray gamma = add(mul(t.randomNormal(new Shape(c)), 0.5f), 1f).toType(DataType.FLOAT16, false);
        NDArray beta = mul(t.randomNormal(new Shape(c)), 0.5f).toType(DataType.FLOAT16, false);
        NDArray w0 = mul(t.randomNormal(new Shape(2 * inner, c)), (float) (1 / Math.sqrt(c)))
                .toType(DataType.FLOAT16, false);
        NDArray b0 = mul(t.randomNormal(new Shape(2 * inner)), 0.1f).toType(DataType.FLOAT16, false);
        NDArray w08 = t.zeros(new Shape(2 * inner, c), DataType.UINT8);
        NDArray scales = t.zeros(new Shape(Fp8Linear.SCALE_SLOTS), DataType.FLOAT32);
        NDArray b08 = t.zeros(new Shape(2 * inner), DataType.FLOAT16);
        NDArray ys = outScales ? t.zeros(new Shape(Fp8Linear.SCALE_SLOTS), DataType.FLOAT32) : null;
        Fp8Linear.write(w0, b0, gamma, beta, sx, w08, scales, b08, ys);
        return new Ff0(NativeOps.layerNormFp8(x, null, 1e-5, sx)[1], w08, scales, b08, ys);
    }

    /**
     * The block's FP8 feed-forward entry ({@code NativeOps.feedForwardFp8}) against FP8 ff.net.0.proj + the fp16 gate +
     * fp16 ff.net.2 ({@code gegluFp8} + {@code linearResidual}) on a LayerNorm's FP8 output of C = N features; one line.
     * Its ff.net.2 must be the FP8 product where {@code fused} (cuBLASLt has an algorithm for these shapes: the result
     * differs from the fp16 one), else the fp16 one (equal to it bit for bit).
     */
    private static boolean feedForwardEntry(PrintStream out, String label, NDManager t, NDArray w, NDArray b, NDArray w8,
            NDArray ws, NDArray r, boolean fused) {
        Ff0 p = randomFf0(t, r.getShape(), w.getShape().get(1), false);
        NDArray x8 = p.x8();
        NDArray w08 = p.w08();
        NDArray scales = p.scales();
        NDArray b08 = p.b08();
        NDArray gate = NativeOps.wrap(r, NativeOps.gegluFp8(NativeOps.h(x8), NativeOps.h(w08), NativeOps.h(scales),
                NativeOps.h(b08)));
        NDArray ref = NativeOps.linearResidual(gate, w, b, r);
        NDArray ours = NativeOps.wrap(r, NativeOps.feedForwardFp8(NativeOps.h(x8), NativeOps.h(w08), NativeOps.h(scales),
                NativeOps.h(b08), NativeOps.h(w8), NativeOps.h(ws), NativeOps.h(b), NativeOps.h(w), NativeOps.h(r)));
        boolean fp16 = ours.getShape().equals(ref.getShape())
                && ours.toType(DataType.FLOAT32, false).sub(ref.toType(DataType.FLOAT32, false)).abs().max().getFloat() == 0f;
        if (fp16 == fused) {
            out.printf(Locale.ROOT, "  %s feed-forward entry: ff.net.2 ran %s, expected %s -> FAIL%n", label,
                    fp16 ? "in fp16" : "as FP8", fused ? "FP8" : "fp16 (no FP8 algorithm)");
            return false;
        }
        return relative(out, label + " feed-forward entry (ff.net.2 " + (fused ? "FP8" : "fp16: no FP8 algorithm") + ")",
                ours, ref, FP8_MAX_RELATIVE);
    }

    /**
     * The FP8 gate's output g8 = {q e4m3 bytes, s row scales} against its reference {v·r, s} ({@link #gateFp8Reference}):
     * q at most one e4m3 step from PyTorch's conversion of v·r, the row scales within {@link #FP8_SCALE_MAX_RELATIVE};
     * two lines. {@code like}: a tensor on the gate's device.
     */
    private static boolean gateMatches(PrintStream out, String label, NDArray like, NDArray[] g8, NDArray[] ref) {
        boolean ok = e4m3Steps(out, label + " gate", NativeOps.wrap(like, NativeOps.toFp8Bytes(NativeOps.h(ref[0]))),
                g8[0]);
        float scaleDiff = g8[1].getShape().equals(ref[1].getShape())
                ? g8[1].sub(ref[1]).abs().div(ref[1]).max().getFloat() : Float.POSITIVE_INFINITY;
        boolean scalesOk = scaleDiff <= FP8_SCALE_MAX_RELATIVE;
        out.printf(Locale.ROOT, "  %s gate row scales: max relative difference %.2e -> %s%n", label, scaleDiff,
                scalesOk ? "PASS" : "FAIL");
        return ok & scalesOk;
    }

    /**
     * The GEGLU intermediate as e4m3 ({@code SD_FP8_GEGLU}) on a LayerNorm's FP8 output of C = N features, ff.net.0.proj
     * (2I, C) random with its folded weight, bias and static output scale as {@code Fp8Linear.write} makes them: (1) its
     * e4m3-output product ({@code NativeOps.linearFp8E4m3}) dequantised (÷ s_y) against the fp16-output product of the
     * same FP8 operands ({@code linearFp8}: the same accumulation, the bias included, so a D scale that left the bias
     * out would show), relative error below {@link #FP8_MAX_RELATIVE} (one e4m3 rounding of the output, fast
     * accumulation), no NaN byte, and the reference's max |y|·s_y at most 448 (the static bound holds on this data);
     * (2) the gate of it ({@code NativeOps.gegluGateE4m3}) against {@link #gateFp8Reference} of the fp32 gate of the
     * same dequantised values (each e4m3 value times 1/s_y in float32, as the kernel), at most one e4m3 step apart, the
     * row scales within {@link #FP8_SCALE_MAX_RELATIVE}; (3) the block's entry ({@code NativeOps.feedForwardFp8E4m3})
     * against the fp16 intermediate's ({@code feedForwardFp8}), below {@link #FP8_MAX_RELATIVE}, on the e4m3 path (its
     * output not the fp16 one's bit for bit) exactly where both products have cuBLASLt algorithms ({@code outFused}:
     * ff.net.2's).
     */
    private static boolean gegluE4m3(PrintStream out, String label, NDManager t, NDArray w, NDArray b, NDArray w8,
            NDArray ws, NDArray r, boolean outFused) {
        Ff0 p = randomFf0(t, r.getShape(), w.getShape().get(1), true);
        NDArray x8 = p.x8();
        NDArray w08 = p.w08();
        NDArray scales = p.scales();
        NDArray b08 = p.b08();
        NDArray ys = p.ys();
        float[] y = ys.toFloatArray();
        float sy = y[0];
        float inv = y[Fp8Linear.INPUT_SCALE_SLOT];
        boolean fused = NativeOps.linearFp8E4m3Fused(NativeOps.h(x8), NativeOps.h(w08), NativeOps.h(scales),
                NativeOps.h(b08), NativeOps.h(ys));
        String tag = label + " e4m3 intermediate (s_y " + String.format(Locale.ROOT, "%.4g", sy) + ")";
        // (1) the product
        NDArray h8 = NativeOps.linearFp8E4m3(x8, w08, scales, b08, ys);
        NDArray h16 = NativeOps.linearFp8(x8, w08, scales, b08).toType(DataType.FLOAT32, false);
        NDArray deq = NativeOps.wrap(h8, NativeOps.fromFp8Bytes(NativeOps.h(h8))); // the e4m3 values, exactly
        long nan = deq.isNaN().countNonzero().getLong();
        float peak = h16.abs().max().getFloat() * sy;
        boolean ok = nan == 0 && peak <= Fp8Linear.E4M3_MAX;
        out.printf(Locale.ROOT, "  %s: %d NaN bytes, the fp16 product's max |y|·s_y %.1f (of 448) -> %s%n", tag, nan,
                peak, ok ? "PASS" : "FAIL");
        ok &= relative(out, tag + " product" + (fused ? " cuBLASLt FP8, e4m3 D" : " fallback (no FP8 algorithm)"),
                mul(deq, 1 / sy), h16, FP8_MAX_RELATIVE);
        // (2) the gate of the e4m3 values: each times 1/s_y in float32, the fp32 gate, the FP8 rule
        NDArray[] g8 = NativeOps.gegluGateE4m3(h8, ys);
        ok &= gateMatches(out, tag, h8, g8, gateFp8Reference(NativeOps.gegluGate(mul(deq, inv))));
        // (3) the block's entry against the fp16 intermediate's
        NDArray ref16 = NativeOps.wrap(r, NativeOps.feedForwardFp8(NativeOps.h(x8), NativeOps.h(w08), NativeOps.h(scales),
                NativeOps.h(b08), NativeOps.h(w8), NativeOps.h(ws), NativeOps.h(b), NativeOps.h(w), NativeOps.h(r)));
        NDArray ours = NativeOps.wrap(r, NativeOps.feedForwardFp8E4m3(NativeOps.h(x8), NativeOps.h(w08),
                NativeOps.h(scales), NativeOps.h(b08), NativeOps.h(ys), NativeOps.h(w8), NativeOps.h(ws), NativeOps.h(b),
                NativeOps.h(w), NativeOps.h(r)));
        boolean e4m3Path = fused && outFused;
        boolean same = ours.getShape().equals(ref16.getShape()) && ours.toType(DataType.FLOAT32, false)
                .sub(ref16.toType(DataType.FLOAT32, false)).abs().max().getFloat() == 0f;
        if (same == e4m3Path) {
            out.printf(Locale.ROOT, "  %s entry: ran the %s intermediate, expected %s -> FAIL%n", tag,
                    same ? "fp16" : "e4m3", e4m3Path ? "e4m3" : "fp16 (no FP8 algorithm for a product)");
            return false;
        }
        return ok & relative(out, tag + " feed-forward entry (" + (e4m3Path ? "e4m3" : "fp16: no FP8 algorithm") + ")",
                ours, ref16, FP8_MAX_RELATIVE);
    }

    /**
     * What the FP8 gate must write for the fp32 gate values v (..., I): {v · r (float32, v's shape), s (rows) float32},
     * per row of I s = amax|v|/448 and r = min(448/amax|v|, Float.MAX_VALUE) (an IEEE division of two tensors), both 1
     * where s is 0 (an all-zero row), as geglu.cu's row_scale states the rule (a multiplication by r, not a division by
     * s: they round apart near e4m3 rounding boundaries, so a kernel that divided would show here as values one step
     * off); the e4m3 bytes are PyTorch's conversion of the first ({@code NativeOps.toFp8Bytes}). s is amax times
     * PyTorch's float reciprocal of 448 on CUDA (its division by a number), so its last bit may differ from the
     * kernel's ({@link #FP8_SCALE_MAX_RELATIVE}). On v's manager.
     */
    static NDArray[] gateFp8Reference(NDArray v) {
        Shape shape = v.getShape();
        NDArray rows = v.reshape(-1, shape.get(shape.dimension() - 1));
        NDArray amax = rows.abs().max(new int[] {1}, true);
        NDArray s = div(amax, (float) Fp8Linear.E4M3_MAX);
        NDArray zero = gte(s, Float.MIN_VALUE).logicalNot().toType(DataType.FLOAT32, false);
        s = s.add(zero); // 0 -> 1
        NDArray e4m3Max = mul(amax.onesLike(), (float) Fp8Linear.E4M3_MAX);
        // 448 / amax; 448 / 448 = 1 for the zero row (amax + 448 · zero: amax itself elsewhere)
        NDArray r = minimum(e4m3Max.div(amax.add(mul(zero, (float) Fp8Linear.E4M3_MAX))), Float.MAX_VALUE);
        return new NDArray[] {rows.mul(r).reshape(shape), s.reshape(-1)};
    }

    /** An e4m3 byte's place in value order: sign and magnitude to a signed step count (±0 both 0). */
    static int e4m3Order(byte b) {
        int v = b & 0xff;
        int magnitude = v & 0x7f;
        return (v & 0x80) != 0 ? -magnitude : magnitude;
    }

    /** ‖ours − ref‖ / ‖ref‖, both taken in float32 (the FP8 checks' relative error). */
    public static double relativeError(NDArray ours, NDArray ref) {
        NDArray r = ref.toType(DataType.FLOAT32, false);
        return ours.toType(DataType.FLOAT32, false).sub(r).norm().getFloat() / r.norm().getFloat();
    }

    /** ‖ours − ref‖ / ‖ref‖ in float32 below {@code max}; one line. */
    private static boolean relative(PrintStream out, String label, NDArray ours, NDArray ref, double max) {
        if (!ours.getShape().equals(ref.getShape())) {
            out.printf(Locale.ROOT, "  %s: output %s, not %s -> FAIL%n", label, ours.getShape(), ref.getShape());
            return false;
        }
        double rel = relativeError(ours, ref);
        boolean pass = rel < max;
        out.printf(Locale.ROOT, "  %s: relative error %.4f -> %s%n", label, rel, pass ? "PASS" : "FAIL");
        return pass;
    }

    /**
     * The entry point that takes the FP8 product for this shape against its fp16 entry on the fp16 norm's output: N =
     * 3C self-attention (q|k|v, 64-wide heads), N = C cross-attention (q; k|v from a random 77-token context of 768),
     * N = 8C GEGLU; other shapes have none (true).
     */
    private static boolean fp8Entry(PrintStream out, String label, NDManager t, NDArray n16, NDArray n8, NDArray w,
            NDArray b, NDArray w8, NDArray scales, NDArray b8, long c, long n) {
        int heads = (int) (c / 64);
        long h = NativeOps.h(n16);
        NDArray wout = mul(t.randomNormal(new Shape(c, c)), (float) (1 / Math.sqrt(c))).toType(DataType.FLOAT16, false);
        NDArray bout = mul(t.randomNormal(new Shape(c)), 0.1f).toType(DataType.FLOAT16, false);
        long ho = NativeOps.h(wout);
        long hbo = NativeOps.h(bout);
        long ref;
        long ours;
        long given = 0; // the cross-attention's FP8 entry with its k|v made before (the prompt K|V's), where linked
        String entry;
        NDArray ctx = null;
        NDArray wkv = null;
        if (n == 3 * c) {
            entry = "self-attention";
            ref = NativeOps.selfAttention(h, NativeOps.h(w), NativeOps.h(b), ho, hbo, heads, 0L, 0L);
            ours = NativeOps.selfAttentionFp8(NativeOps.h(n8), NativeOps.h(w8), NativeOps.h(scales), NativeOps.h(b8), ho,
                    hbo, heads, 0L);
        } else if (n == c) {
            entry = "cross-attention";
            ctx = t.randomNormal(new Shape(n16.getShape().get(0), 77, 768)).toType(DataType.FLOAT16, false);
            wkv = mul(t.randomNormal(new Shape(2 * c, 768)), (float) (1 / Math.sqrt(768)))
                    .toType(DataType.FLOAT16, false);
            ref = NativeOps.crossAttention(h, NativeOps.h(ctx), NativeOps.h(w), NativeOps.h(b), NativeOps.h(wkv), 0L, ho,
                    hbo, heads, 0L);
            ours = NativeOps.crossAttentionFp8(NativeOps.h(n8), NativeOps.h(ctx), NativeOps.h(w8), NativeOps.h(scales),
                    NativeOps.h(b8), NativeOps.h(wkv), 0L, ho, hbo, heads, 0L);
            if (NativeOps.crossAttentionKvLinked()) { // the prompt K|V's FP8 entry: the same, bit for bit
                NDArray kv = asPromptKvSlice(t, NativeOps.wrap(ctx, NativeOps.linear(NativeOps.h(ctx), NativeOps.h(wkv),
                        0L)));
                given = NativeOps.crossAttentionKvFp8(NativeOps.h(n8), NativeOps.h(kv), NativeOps.h(w8),
                        NativeOps.h(scales), NativeOps.h(b8), ho, hbo, heads, 0L);
            }
        } else if (n == 8 * c) {
            entry = "GEGLU";
            ref = NativeOps.geglu(h, NativeOps.h(w), NativeOps.h(b));
            ours = NativeOps.gegluFp8(NativeOps.h(n8), NativeOps.h(w8), NativeOps.h(scales), NativeOps.h(b8));
        } else {
            return true;
        }
        NDArray entryOut = NativeOps.wrap(n16, ours); // wrapped once: the array owns the handle
        boolean ok = relative(out, label + " " + entry + " entry", entryOut, NativeOps.wrap(n16, ref),
                FP8_ENTRY_MAX_RELATIVE);
        if (given != 0) {
            ok &= bitEqual(out, label + " cross-attention entry, its k|v made before (prompt K|V)", entryOut,
                    NativeOps.wrap(n16, given));
        }
        if (n != 8 * c && NativeOps.ATTN_RESIDUAL.linked()) {
            // the same FP8 entry with the residual added by its output projection (SD_ATTN_RESIDUAL) against it + add
            NDArray r = t.randomNormal(n16.getShape()).toType(DataType.FLOAT16, false);
            long withResidual;
            boolean fused;
            try {
                NativeOps.LT_RESIDUAL.set(true);
                fused = NativeOps.linearResidualFused(h, ho, hbo, NativeOps.h(r));
                withResidual = n == 3 * c
                        ? NativeOps.selfAttentionFp8(NativeOps.h(n8), NativeOps.h(w8), NativeOps.h(scales),
                                NativeOps.h(b8), ho, hbo, heads, NativeOps.h(r))
                        : NativeOps.crossAttentionFp8(NativeOps.h(n8), NativeOps.h(ctx), NativeOps.h(w8),
                                NativeOps.h(scales), NativeOps.h(b8), NativeOps.h(wkv), 0L, ho, hbo, heads,
                                NativeOps.h(r));
            } finally {
                NativeOps.LT_RESIDUAL.set(null);
            }
            ok &= residualEntry(out, label + " " + entry + " entry + residual " + (fused ? "cuBLASLt" : "fallback"),
                    c % 8 == 0, fused, entryOut, NativeOps.wrap(n16, withResidual), r);
        }
        return ok;
    }

    /**
     * The {@code SD_GROUP_NORM_ONE_PASS} settings each case of our NHWC GroupNorm kernels runs under: on (one launch
     * where {@link #oneLaunchGroupNorm} applies, else three) and off (three launches), so that both paths are checked
     * whatever the setting; {@code null} alone (as the library does it) where the library has no switch.
     */
    private static Boolean[] onePassSettings() {
        return NativeOps.GROUP_NORM_ONE_PASS.linked() ? new Boolean[] {true, false} : new Boolean[] {null};
    }

    /** {@code call} with {@code SD_GROUP_NORM_ONE_PASS} set to {@code on} ({@code null}: as it is), restored after. */
    private static <T> T withOnePass(Boolean on, Supplier<T> call) {
        if (on == null) {
            return call.get();
        }
        try {
            NativeOps.GROUP_NORM_ONE_PASS.set(on);
            return call.get();
        } finally {
            NativeOps.GROUP_NORM_ONE_PASS.set(null);
        }
    }

    /**
     * Whether our NHWC GroupNorm kernels normalise hw pixels of c channels in {@code groups} groups in one launch
     * ({@code group_norm_one} in group_norm_nhwc.cu, its {@code one_pass} rule, with {@code SD_GROUP_NORM_ONE_PASS}
     * on): d = c / groups even and at most 1024, and a group's hw · d values at most 24576, or 16384 where d is not a
     * multiple of 4 (what a block's registers hold). On SD 1.5's UNet (32 groups): the 8x8 and 16x16 levels and the
     * 32x32 level's 320 and 640 channels.
     */
    static boolean oneLaunchGroupNorm(long hw, long c, int groups) {
        long d = c / groups;
        return d % 2 == 0 && d <= 1024 && hw * d <= (d % 4 == 0 ? 24576 : 16384);
    }

    /** " 1 launch" or " 3 launches": the path a GroupNorm case is expected to take under {@code onePass} ("" for null). */
    private static String pathLabel(Boolean onePass, long hw, long c, int groups) {
        return onePass == null ? "" : onePass && oneLaunchGroupNorm(hw, c, groups) ? " 1 launch" : " 3 launches";
    }

    /**
     * Whether the library takes the expected path ({@link #pathLabel}) for a GroupNorm case under {@code onePass}
     * ({@code NativeOps.groupNormOnePass}); prints a FAIL line for the case where it does not (true for null).
     */
    private static boolean groupNormPath(PrintStream out, String label, Boolean onePass, long hw, long c, int groups) {
        if (onePass == null) {
            return true;
        }
        boolean expected = onePass && oneLaunchGroupNorm(hw, c, groups);
        boolean one = withOnePass(onePass, () -> NativeOps.groupNormOnePass(hw, (int) c, groups));
        if (one != expected) {
            out.printf(Locale.ROOT, "  %s: the library takes %s -> FAIL%n", label, one ? "1 launch" : "3 launches");
            return false;
        }
        return true;
    }

    /**
     * One case: {@code ours} and {@code torch16} (PyTorch's fp16 ops) against {@code exact} (PyTorch in fp32 on
     * the same fp16 values). Passes when ours is within fp16 rounding of the exact result (max 0.02, mean 1e-3
     * absolute; outputs of magnitude up to ~10) or no further from it than PyTorch's own fp16 ops (+25%), both
     * figures together ({@link #within}).
     */
    private static boolean matches(PrintStream out, String label, NDArray exact, NDArray ours, NDArray torch16) {
        float[] o = errors(exact, ours);
        float[] t = errors(exact, torch16);
        boolean pass = within(o, t);
        out.printf(Locale.ROOT, "  %s: ours max %.4f mean %.5f; PyTorch fp16 max %.4f mean %.5f -> %s%n", label, o[0],
                o[1], t[0], t[1], pass ? "PASS" : "FAIL");
        return pass;
    }

    /** {max, mean} of |exact − y| in float32. */
    private static float[] errors(NDArray exact, NDArray y) {
        NDArray d = exact.sub(y.toType(DataType.FLOAT32, false)).abs();
        return new float[] {d.max().getFloat(), d.mean().getFloat()};
    }

    /** {@link #matches}' rule on {max, mean} errors: ours within fp16 rounding, or no further than PyTorch's (+25%). */
    static boolean within(float[] ours, float[] torch) {
        return (ours[0] <= 0.02f && ours[1] <= 1e-3f) || (ours[0] <= 1.25f * torch[0] && ours[1] <= 1.25f * torch[1]);
    }
}
