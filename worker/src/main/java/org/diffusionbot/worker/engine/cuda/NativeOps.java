package org.diffusionbot.worker.engine.cuda;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Optional native helpers (worker/src/main/native/sd_native_ops.cc) built against the libtorch that
 * DJL runs on: fused scaled-dot-product attention, GroupNorm(+SiLU), GEGLU, CUDA graph capture and
 * replay, channels-last layout (with NHWC GroupNorm kernels of our own), a one-pass GEGLU gate, LayerNorm and
 * residual add + LayerNorm (a kernel of our own), linear layers with their residual add in one cuBLASLt product (its
 * algorithm, and the plain linears', timed per shape on first use: {@link #LT_AUTOTUNE}), the
 * transformer blocks' linears after a LayerNorm as FP8 products of the norm's FP8 output ({@link #FP8_LINEARS}) and their
 * feed-forward's output projection as an FP8 product of the GEGLU gate's FP8 output ({@link #FP8_FF_OUT}), optionally
 * with the GEGLU intermediate written as e4m3 with a static scale ({@link #FP8_GEGLU}, off by default), the UNet's
 * ResNet blocks' 3x3 convolutions as FP8 implicit GEMMs on Hopper of their GroupNorms' e4m3 output ({@link #FP8_CONV}),
 * nearest
 * 2x upsampling of channels-last tensors (a kernel of our own), the head-size-40 self- and cross-attentions on Hopper
 * (kernels of our own, {@link #SELF_ATTENTION_KERNEL} and {@link #CROSS_ATTENTION_KERNEL}), every ResNet block's
 * time-embedding projection of a UNet call in one launch (a kernel of our own, {@link #TIME_PROJ_KERNEL}), the transformer
 * blocks' attentions adding their residual in their output projection's product ({@link #ATTN_RESIDUAL}), the VAE's
 * wide-head attention as plain products + softmax ({@link #WIDE_HEAD_ATTENTION}), and CUDA allocator
 * statistics. Loaded only
 * when the environment variable (or system property) {@code SD_NATIVE_OPS} names the library file; everything has a
 * plain DJL fallback, so CPU runs and CI never need it. {@link #unavailableReason()} says why it is not loaded (worker.jar doctor).
 */
public final class NativeOps {
    private static final Logger LOG = LoggerFactory.getLogger(NativeOps.class);
    /** Why the library is not loaded (set by {@link #load()}, before {@link #AVAILABLE}), or null. */
    private static String unavailable;
    // the settings read when the library loads (declared before AVAILABLE: load() reads them into these)
    /** cuDNN autotuning: off unless {@code SD_CUDNN_BENCHMARK=1} (it bought nothing and costs memory). */
    static final Switch CUDNN_BENCHMARK = Switch.offByDefault("SD_CUDNN_BENCHMARK", NativeOps::setCudnnBenchmark);
    /**
     * cuDNN's fused attention ahead of flash attention in SDPA ({@code SD_CUDNN_ATTENTION}; recapture graphs after a
     * change).
     */
    public static final Switch CUDNN_ATTENTION = new Switch("SD_CUDNN_ATTENTION", NativeOps::setCudnnAttention);
    /** Our GEGLU gate kernel, else PyTorch's ops ({@code SD_GEGLU_KERNEL}). */
    static final Switch GEGLU_KERNEL = new Switch("SD_GEGLU_KERNEL", NativeOps::setGegluKernel);
    /**
     * Our bias-add kernel and the bias inside the NHWC GroupNorm kernels, else PyTorch's adds ({@code SD_BIAS_KERNEL}).
     */
    static final Switch BIAS_KERNEL = new Switch("SD_BIAS_KERNEL", NativeOps::setBiasKernel);
    /** Our LayerNorm (and residual add + LayerNorm) kernel, else PyTorch's ({@code SD_LAYERNORM_KERNEL}). */
    static final Switch LAYERNORM_KERNEL = new Switch("SD_LAYERNORM_KERNEL", NativeOps::setLayerNormKernel);
    /** Float32 GroupNorm on CUDA with split statistics, else PyTorch's group_norm ({@code SD_FP32_GROUPNORM}). */
    static final Switch FP32_GROUPNORM = new Switch("SD_FP32_GROUPNORM", NativeOps::setFp32GroupNormSplit);
    /** Float32 attention on CUDA (SDXL's upcast VAE) with float16 products ({@code SD_VAE_ATTENTION_FP16}). */
    static final Switch VAE_ATTENTION_FP16 = new Switch("SD_VAE_ATTENTION_FP16", NativeOps::setFp32AttentionInHalf);
    /**
     * LoRA patches through {@link #loraAdd} and {@link #loraRestore}, else DJL weight by weight ({@code
     * SD_LORA_NATIVE}; {@link #loraPatches()}).
     */
    public static final Switch LORA_NATIVE = new Switch("SD_LORA_NATIVE", null,
            () -> loraRestore(new long[0], new long[0], new long[0], new long[0]), "LoRA", "LoRA switches go through DJL");
    /**
     * A ResNet block's conv1 bias and time embedding added inside the next GroupNorm ({@code SD_FUSED_BIAS_NORM};
     * {@link #fusedBiasNorm()}); linked: the library has {@link #biasGroupNorm}.
     */
    static final Switch FUSED_BIAS_NORM = new Switch("SD_FUSED_BIAS_NORM", null,
            () -> biasGroupNorm(0, 0, 0, 1, 0, 0, 1e-5, false), "bias + GroupNorm",
            "ResNet blocks add conv1's bias in a pass of its own");
    /** 1x1 convolutions of fp16 channels-last inputs as matrix products, else cuDNN ({@code SD_CONV1X1_GEMM}). */
    static final Switch CONV1X1_GEMM = new Switch("SD_CONV1X1_GEMM", NativeOps::setConv1x1Gemm, null,
            "1x1-convolution GEMM", "1x1 convolutions run in cuDNN");
    /**
     * The up blocks' norm1 and conv_shortcut read input and skip connection in place ({@link #catGroupNorm}, {@link
     * #catConv1x1}), else the concatenation ({@code SD_UPBLOCK_NO_CAT}; {@link #upblockNoCat()}).
     */
    static final Switch UPBLOCK_NO_CAT = new Switch("SD_UPBLOCK_NO_CAT", NativeOps::setUpblockNoCat, null,
            "up-block skip connection", "up blocks concatenate their skip connections");
    /**
     * Linear + bias + residual in one cuBLASLt product ({@link #linearResidual(long, long, long, long)}), else {@code
     * at::linear} + add ({@code SD_LT_RESIDUAL}).
     */
    static final Switch LT_RESIDUAL = new Switch("SD_LT_RESIDUAL", NativeOps::setLtResidual, null, "linear + residual",
            "residual adds after linear layers run as passes of their own");
    /**
     * cuBLASLt's candidate algorithms timed per product shape on its first eager call and the fastest kept, and the
     * plain fp16 linears ({@link #linear}, the attention projections, 1x1 convolutions as products) through cuBLASLt so
     * that they run tuned algorithms; else cuBLASLt's heuristic pick for the products the library runs in cuBLASLt and
     * {@code at::linear} for the others ({@code SD_LT_AUTOTUNE}; recapture graphs after a change; {@link
     * #autotuneReport()} says what it found).
     */
    public static final Switch LT_AUTOTUNE = new Switch("SD_LT_AUTOTUNE", NativeOps::setLtAutotune, null,
            "cuBLASLt autotuning", "cuBLASLt runs its heuristic's first algorithm");
    /**
     * Nearest 2x upsampling by our kernel, else {@code at::upsample_nearest2d} ({@code SD_UPSAMPLE_KERNEL}); linked:
     * the library has {@link #upsampleNearest(long, long, long)}, else DJL's interpolation ({@link
     * #upsampleNearest()}).
     */
    static final Switch UPSAMPLE_KERNEL = new Switch("SD_UPSAMPLE_KERNEL", NativeOps::setUpsampleKernel, null,
            "nearest upsampling", "upsampling runs DJL's interpolation");
    /**
     * The transformer blocks' linears after a LayerNorm as FP8 products of the norm's FP8 output ({@code SD_FP8_LINEARS},
     * on unless 0; {@link #fp8LinearsOff()}: also needs compute capability 8.9+); linked: the library has {@link
     * #linearFp8(long, long, long, long)} and the other FP8 functions. Models loaded with it off have no FP8 weights
     * ({@code UNet2DConditionModel.prepareFp8Linears} makes them), and captured CUDA graphs keep the path they were
     * captured with: clear them after a change.
     */
    public static final Switch FP8_LINEARS = new Switch("SD_FP8_LINEARS", null, () -> linearFp8(0, 0, 0, 0),
            "FP8 linear", "transformer linears run in fp16");
    /**
     * Our wgmma kernel for the head-size-40 cross-attentions over at most 128 keys (SD 1.5's 64x64 level over the
     * prompt's 77 tokens: {@link #crossAttention} and {@link #crossAttentionFp8}; self_attention.cu, Hopper only:
     * compute capability 9.0 and a library built for sm_90a), else PyTorch's SDPA ({@code SD_CROSS_ATTENTION_KERNEL}, on
     * unless 0: on the H200 it measured 0.043 ms per (16, 8, 4096, 40) call over 77 keys against cuDNN's 0.073;
     * recapture graphs after a change); linked: the library has {@link #crossAttentionCore(long, long, int)}.
     */
    static final Switch CROSS_ATTENTION_KERNEL = new Switch("SD_CROSS_ATTENTION_KERNEL",
            NativeOps::setCrossAttentionKernel, null, "cross-attention kernel", "cross-attentions run PyTorch's SDPA");
    /**
     * The transformer blocks' ff.net.2 as an FP8 product of the GEGLU gate's FP8 output with per-token scales ({@code
     * SD_FP8_FF_OUT}, on unless 0; only where {@link #FP8_LINEARS} is on: {@link #fp8FfOutOff()}); linked: the library
     * has {@link #linearResidualFp8(long, long, long, long, long, long)} and the other functions of it. Models loaded
     * with it off have no FP8 ff.net.2 weights ({@code UNet2DConditionModel.prepareFp8Linears} makes them), and
     * captured CUDA graphs keep the path they were captured with: clear them after a change.
     */
    public static final Switch FP8_FF_OUT = new Switch("SD_FP8_FF_OUT", null, () -> linearResidualFp8(0, 0, 0, 0, 0, 0),
            "FP8 ff.net.2", "ff.net.2 runs in fp16");
    /**
     * The transformer blocks' GEGLU intermediate (ff.net.0.proj's output, (B·HW, 8C): the UNet's largest tensor)
     * written by its FP8 product as e4m3 with a static per-layer scale and read so by the gate ({@link
     * #feedForwardFp8E4m3}), instead of fp16 ({@code SD_FP8_GEGLU}, off unless 1: on the H200 it bought nothing (SD 1.5
     * 512x512, UNet batch 16 23.1 ms either way, 1/4/8 jobs within 1%) and costs image quality (one more e4m3 rounding
     * of an 8C-wide tensor, FP8 on against off: measured at 807321d (linears-only FP8, before the FP8 convolutions):
     * 53.4 → 52.5 dB; beside the FP8 convolutions not visible (44.3 dB all paths on at 9afab95 vs 44.2 as shipped at
     * 94e4ea5, two runs)); only where {@link #FP8_FF_OUT} is on: {@link #fp8GegluOff()}; docs/GPU.md "What runs on
     * CUDA" 8); linked: the library has {@link #linearFp8E4m3(long, long, long, long, long)} and the other functions of
     * it. Captured CUDA graphs keep the path they were captured with: clear them after a change.
     */
    public static final Switch FP8_GEGLU = Switch.offByDefault("SD_FP8_GEGLU", null, () -> linearFp8E4m3(0, 0, 0, 0, 0),
            "e4m3 GEGLU intermediate", "the GEGLU intermediate stays fp16");
    /**
     * Our wgmma kernel for the head-size-40 self-attentions (SD 1.5's 64x64 level: {@link #selfAttention} and {@link
     * #selfAttentionFp8} without a mask; self_attention.cu, Hopper only: compute capability 9.0 and a library built for
     * sm_90a), else PyTorch's SDPA ({@code SD_SELF_ATTENTION_KERNEL}, on unless 0: on the H200 it measured 0.976 ms per
     * (16, 8, 4096, 40) call against cuDNN's 1.151; recapture graphs after a change); linked: the library has {@link
     * #selfAttentionCore(long, int)}.
     */
    static final Switch SELF_ATTENTION_KERNEL = new Switch("SD_SELF_ATTENTION_KERNEL", NativeOps::setSelfAttentionKernel,
            null, "self-attention kernel", "self-attentions run PyTorch's SDPA");
    /**
     * Every ResNet block's time-embedding projection of a UNet call in one launch of our kernel (time_proj.cu: {@link
     * #timeProjections(NDArray, NDArray[], NDArray[])}), else each block's own product, as before ({@code
     * SD_TIME_PROJ_KERNEL}, on unless 0; read on the Java side: {@link #timeProjKernel()}; recapture graphs after a
     * change); linked: the library has {@link #timeProjections(long, long[], long[])}.
     */
    public static final Switch TIME_PROJ_KERNEL = new Switch("SD_TIME_PROJ_KERNEL", null,
            () -> timeProjections(0, new long[0], new long[0]), "time-projection",
            "each ResNet block projects the time embedding in a product of its own");
    /**
     * The transformer blocks' (and CLIP's encoder layers') attentions add the residual stream x in their output
     * projection's product, {@code x + attn = O·W_outᵀ + b + x} (the attention entries' {@code residual}: one cuBLASLt
     * product with x as its C operand where {@link #linearResidual(long, long, long, long)} applies, else {@code
     * at::linear} + add), and the next LayerNorm reads only that sum; else the attention writes {@code attn} and the
     * next LayerNorm adds it to x in its own pass, as before ({@code SD_ATTN_RESIDUAL}, on unless 0; read on the Java
     * side: {@link #attnResidual()}; recapture graphs after a change). The fused product rounds {@code b + attn + x}
     * once, where the add rounded attn to fp16 first: the two differ within fp16 rounding, not bit for bit. Linked: the
     * library's attention entries take the residual ({@link #attentionResidual()}).
     */
    public static final Switch ATTN_RESIDUAL = new Switch("SD_ATTN_RESIDUAL", null, NativeOps::attentionResidual,
            "attention + residual", "attentions' residual adds run in the next LayerNorm's pass");
    /**
     * Attention with head size above 256 and no mask on CUDA (the VAE's mid-block: one head of 512 channels; SDXL's
     * float32 VAE's after the float16 conversion of {@link #VAE_ATTENTION_FP16}) as plain products + softmax: scores from
     * cuBLAS in fp32, softmax in fp32, P in fp16, P·v in fp16, the queries in chunks of at most 2^26 scores; else
     * PyTorch's SDPA, whose only kernel for such heads is the memory-efficient one ({@code SD_WIDE_HEAD_ATTENTION}, on
     * unless 0; recapture graphs after a change); linked: the library has {@link #wideHeadAttention(long, int)}.
     */
    static final Switch WIDE_HEAD_ATTENTION = new Switch("SD_WIDE_HEAD_ATTENTION", NativeOps::setWideHeadAttention,
            null, "wide-head attention", "wide-head attentions (the VAE's) run PyTorch's SDPA");
    /**
     * Our NHWC GroupNorm kernels normalise small groups in one launch (group_norm_nhwc.cu's {@code group_norm_one}: a
     * block per (sample, group) holds the group's values in registers; SD 1.5's 8x8, 16x16 and, at 320 and 640
     * channels, 32x32 levels: {@link #groupNormOnePass(long, int, int)}), else every shape in three launches ({@code
     * SD_GROUP_NORM_ONE_PASS}, on unless 0; recapture graphs after a change); linked: the library has {@link
     * #setGroupNormOnePass(boolean)}.
     */
    static final Switch GROUP_NORM_ONE_PASS = new Switch("SD_GROUP_NORM_ONE_PASS", NativeOps::setGroupNormOnePass,
            null, "one-launch GroupNorm", "every NHWC GroupNorm runs three launches");
    /**
     * The UNet's ResNet blocks' two 3x3 convolutions as FP8 (e4m3) implicit GEMMs on Hopper's tensor cores (conv_fp8.cu,
     * {@link #conv3x3Fp8(NDArray, NDArray, NDArray, NDArray, NDArray)}), their inputs written as e4m3 by the GroupNorm +
     * SiLU kernels before them ({@link #groupNormSiluE4m3}, {@link #catGroupNormSiluE4m3}), the weights as e4m3 with one
     * scale per output channel ({@code Fp8Conv}); else fp16 cuDNN convolutions as before ({@code SD_FP8_CONV}, on unless
     * 0; effective only where {@link #fp8ConvOff()} gives no reason: compute capability 9.0 and a library built for
     * sm_90a, docs/GPU.md "What runs on CUDA" 14; per block also channels-last weights and {@link #fusedBiasNorm()},
     * and the shapes {@link #fp8ResnetFits} takes). The VAE's blocks stay fp16. Models loaded with it off have
     * no FP8 convolution weights ({@code UNet2DConditionModel.prepareFp8Convs} makes them), and captured CUDA graphs keep
     * the path they were captured with: clear them after a change. Linked: the library has {@link #conv3x3Fp8(long,
     * long, long, long, long)} and the other functions of it.
     */
    public static final Switch FP8_CONV = new Switch("SD_FP8_CONV", null, () -> conv3x3Fp8(0, 0, 0, 0, 0),
            "FP8 convolution", "the ResNet blocks' convolutions run in fp16");
    private static final List<Switch> SWITCHES = List.of(CUDNN_BENCHMARK, CUDNN_ATTENTION, GEGLU_KERNEL, BIAS_KERNEL,
            LAYERNORM_KERNEL, FP32_GROUPNORM, VAE_ATTENTION_FP16, LORA_NATIVE, FUSED_BIAS_NORM, CONV1X1_GEMM,
            UPBLOCK_NO_CAT, LT_RESIDUAL, LT_AUTOTUNE, UPSAMPLE_KERNEL, FP8_LINEARS, CROSS_ATTENTION_KERNEL, FP8_FF_OUT,
            SELF_ATTENTION_KERNEL, TIME_PROJ_KERNEL, ATTN_RESIDUAL, WIDE_HEAD_ATTENTION, FP8_GEGLU, GROUP_NORM_ONE_PASS,
            FP8_CONV);
    private static final boolean AVAILABLE = load();
    private static volatile boolean enabled = AVAILABLE;

    private NativeOps() {
    }

    private static boolean load() {
        String path = EngineSettings.value("SD_NATIVE_OPS");
        if (path == null || path.isBlank()) {
            unavailable = "SD_NATIVE_OPS is not set";
            return false;
        }
        if (!Files.isRegularFile(Path.of(path))) {
            unavailable = "SD_NATIVE_OPS=" + path + " is not a file";
            LOG.warn("{}; using plain DJL operations", unavailable);
            return false;
        }
        try {
            ai.djl.engine.Engine.getEngine("PyTorch"); // libtorch first: the library links against it
            System.load(Path.of(path).toAbsolutePath().toString());
            for (Switch s : SWITCHES) {
                s.load();
            }
            LOG.info("native ops loaded from {} ({})", path,
                    SWITCHES.stream().map(Switch::toString).collect(Collectors.joining(", ")));
            return true;
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            SWITCHES.forEach(s -> s.linked = false);
            unavailable = "SD_NATIVE_OPS=" + path + " did not load: " + e;
            LOG.warn("native ops not loaded from {}: {}", path, e.toString());
            return false;
        }
    }

    /** Why the library is not loaded ("SD_NATIVE_OPS is not set", its load error...), or null when it is. */
    public static String unavailableReason() {
        return unavailable;
    }

    /** Whether the native library is loaded and in use. */
    public static boolean enabled() {
        return enabled;
    }

    /** Turns the native operations off or back on (benchmarks: measure what they buy). */
    public static void setEnabled(boolean on) {
        enabled = on && AVAILABLE;
    }

    /** Whether the library was loaded at all. */
    public static boolean available() {
        return AVAILABLE;
    }

    public static long h(NDArray a) {
        return a == null ? 0L : ((PtNDArray) a).getHandle();
    }

    public static NDArray wrap(NDArray like, long handle) {
        return new PtNDArray((PtNDManager) like.getManager(), handle);
    }

    // attention, norms, activations (handles of DJL tensors in, a new tensor handle out)
    /**
     * Self-attention in one call: fused q|k|v projection (x (B, N, C), wqkv (3C, C) with q pre-scaled), PyTorch's
     * scaled_dot_product_attention over {@code heads} heads with an additive (N, N) mask (handle, or 0 for none: CLIP's
     * causal mask), output projection; a new (B, N, C) handle. Without a mask, at head size 40 with N a multiple of 128
     * on a compute capability 9.0 GPU, our kernel instead of SDPA ({@link #SELF_ATTENTION_KERNEL}; {@link
     * #selfAttentionCore(long, int)} says the rest). With a residual (B, N, C) (a handle, 0 for none: {@link
     * #ATTN_RESIDUAL}; pass 0 where that switch is not {@link Switch#linked()}), the output projection adds it in the
     * same product ({@link #linearResidual(long, long, long, long)}: bias and residual added in fp32 and rounded once,
     * within fp16 rounding of the projection + add, not bit for bit) and the handle holds {@code residual + attn}.
     */
    public static native long selfAttention(long x, long wqkv, long bqkv, long wout, long bout, int heads, long mask,
            long residual);

    /**
     * Whether the attention entries ({@link #selfAttention}, {@link #crossAttention}, {@link #selfAttentionFp8}, {@link
     * #crossAttentionFp8}) take a residual: always true where the function exists ({@link #ATTN_RESIDUAL}'s probe; a
     * library built before lacks it and would ignore the residual argument).
     */
    static native boolean attentionResidual();

    /**
     * Whether the transformer blocks' and CLIP's attentions add the residual in their output projection ({@link
     * #ATTN_RESIDUAL}): with the library in use, where it has the function, the switch is on and {@link #LT_RESIDUAL}
     * too (with the products adding no residuals, the entry's product + add + the plain norm would be a pass more than
     * the attention + the norm's add: the old path then); without it (the DJL path) as the switch is set (on by default;
     * the setting itself is read only when the library loads), so that CPU runs take the same structure ({@code
     * Attention.forward} with a residual: the product, then the add).
     */
    public static boolean attnResidual() {
        return enabled() ? ATTN_RESIDUAL.active() && LT_RESIDUAL.on() : ATTN_RESIDUAL.on();
    }

    /**
     * The attention core of {@link #selfAttention} on its projection (kernel checks): qkv (B, N, 3C) whose thirds q
     * (with the 1/√d scale in it), k and v are read as strided views (token stride 3C), as the pipeline passes them;
     * o (B, N, C) = softmax(q·kᵀ)·v per head (scale 1, no mask), a new handle. Our kernel where it applies: fp16 CUDA
     * tensors, d = C / heads = 40, N a multiple of 128, 16-byte aligned rows, {@code SD_SELF_ATTENTION_KERNEL} on,
     * compute capability 9.0 and the library built for sm_90a ({@link #selfAttentionKernelBuilt()}); head size above
     * 256: the wide-head path where {@link #wideHeadAttention(long, int)} says so ({@link #WIDE_HEAD_ATTENTION}); else
     * {@code at::scaled_dot_product_attention} (float32 on CUDA with fp16 products as {@code SD_VAE_ATTENTION_FP16}
     * says).
     */
    static native long selfAttentionCore(long qkv, int heads);

    /** Whether {@link #selfAttentionCore(long, int)} runs our kernel for these (nothing runs). */
    static native boolean selfAttentionKernel(long qkv, int heads);

    /**
     * Whether {@link #selfAttentionCore(long, int)} runs the wide-head path for these (nothing runs): not our head-size-40
     * kernel, no mask, CUDA, fp16 (or float32 with {@code SD_VAE_ATTENTION_FP16} on), head size C / heads above 256,
     * {@code SD_WIDE_HEAD_ATTENTION} on.
     */
    static native boolean wideHeadAttention(long qkv, int heads);

    /**
     * Whether the library has the wide-head path at all: it needs {@code aten::bmm.dtype} (fp16 inputs, an fp32
     * output), PyTorch 2.8 or later; a library built against an older libtorch (the worker image's 2.7.1) runs SDPA
     * for these heads whatever {@code SD_WIDE_HEAD_ATTENTION} says. In every library that has {@link
     * #wideHeadAttention(long, int)}.
     */
    static native boolean wideHeadAttentionBuilt();

    /**
     * Test hook of the kernel self-check: the wide-head path's queries in chunks of at most {@code maxScores} scores
     * (rows · keys · heads or samples); 0 restores the default, 2^26. The caller restores it.
     */
    static native void setWideHeadAttentionChunk(long maxScores);

    /**
     * Whether the library has the self- and cross-attention kernels' sm_90a code and the GPU is one it runs on (9.0).
     */
    static native boolean selfAttentionKernelBuilt();

    /**
     * Cross-attention in one call (diffusers' {@code Attention} with {@code encoder_hidden_states}: a transformer block's
     * attn2): x (B, N, C) projected by wq (C, C) (q's rows pre-scaled by 1/√d) and bq (C) or 0, the context ctx (B, M,
     * Cc) by wkv (2C, Cc) and bkv (2C) or 0 into k|v (B, M, 2C), attention over {@code heads} heads of d = C / heads,
     * output projection wout (C, C), bout (C) or 0; a new (B, N, C) handle. The attention runs our kernel
     * (self_attention.cu, {@link #CROSS_ATTENTION_KERNEL}) for fp16 CUDA tensors with M ≤ 128 and d = 40 on Hopper
     * ({@link #crossAttentionCore(long, long, int)} says the rest), else PyTorch's SDPA. With a residual (B, N, C) (0
     * for none), the output projection adds it as {@link #selfAttention}'s does.
     *
     * @throws IllegalStateException (from the library) on shapes that do not fit
     */
    public static native long crossAttention(long x, long ctx, long wq, long bq, long wkv, long bkv, long wout, long bout,
            int heads, long residual);

    /**
     * The attention core of {@link #crossAttention} on projected tensors (kernel checks): q (B, N, C) with the 1/√d
     * scale in it, kv (B, M, 2C) the k|v projection whose halves k and v are read as strided views (token stride 2C), as
     * the pipeline passes them; o (B, N, C) = softmax(q·kᵀ)·v per head (scale 1), a new handle. Our kernel where it
     * applies: fp16 CUDA tensors, 1 ≤ M ≤ 128, d = C / heads = 40, last dimensions contiguous, token and batch strides
     * multiples of 8 elements, 16-byte aligned, {@code SD_CROSS_ATTENTION_KERNEL} on, compute capability 9.0 and the
     * library built for sm_90a ({@link #selfAttentionKernelBuilt()}); else {@code at::scaled_dot_product_attention}
     * (float32 on CUDA with fp16 products as {@code SD_VAE_ATTENTION_FP16} says).
     */
    static native long crossAttentionCore(long q, long kv, int heads);

    /** Whether {@link #crossAttentionCore(long, long, int)} runs our kernel for these (nothing runs). */
    static native boolean crossAttentionKernel(long q, long kv, int heads);

    /**
     * {@link #crossAttention} with its k|v made before (a prompt K|V's slice, {@code
     * UNet2DConditionModel.withPromptKv}: the same {@code sd_linear} product of the context, made once per denoising
     * loop): x (B, N, C) projected by wq (C,
     * C) (pre-scaled) and bq (C) or 0, kv (B, M, 2C) whose halves k and v are read as strided views (token stride 2C),
     * the attention ({@link #crossAttentionCore(long, long, int)}), output projection wout (C, C), bout (C) or 0, plus
     * the residual (B, N, C) in the same product where it is not 0, as {@link #crossAttention} adds it; a new (B, N, C)
     * handle. The same kernels in the same order as {@link #crossAttention} after its k|v product. x = 0 is a probe:
     * nothing runs, 0 is returned.
     *
     * @throws IllegalStateException (from the library) on shapes that do not fit
     */
    public static native long crossAttentionKv(long x, long kv, long wq, long bq, long wout, long bout, int heads,
            long residual);

    /**
     * As {@link #crossAttentionKv}, for an FP8 input x8 (B, N, C) (e4m3 bytes from {@link #layerNormFp8}): its q
     * projection is {@link #linearFp8(long, long, long, long)} with w8 (C, C), scales, b (C) or 0, as in {@link
     * #crossAttentionFp8}; the k|v given; the residual (B, N, C) fp16 or 0 as there. x8 = 0 is a probe: nothing runs, 0
     * is returned.
     */
    public static native long crossAttentionKvFp8(long x8, long kv, long w8, long scales, long b, long wout, long bout,
            int heads, long residual);

    /**
     * Whether the library is in use and has {@link #crossAttentionKv} and {@link #crossAttentionKvFp8}: the
     * cross-attentions can read a prompt K|V ({@code SD_PROMPT_KV}, {@code PipelineOptions#promptKv}). A library built
     * before them has not: each UNet call projects the context, as before, whatever the setting (one warning).
     */
    public static boolean crossAttentionKvLinked() {
        return enabled() && CrossAttentionKvLinked.YES;
    }

    /** Whether the loaded library has the k|v cross-attention functions. */
    private static final class CrossAttentionKvLinked {
        static final boolean YES = linked(() -> crossAttentionKv(0, 0, 0, 0, 0, 0, 0, 0), "prompt K|V",
                "every UNet call projects the prompt into each cross-attention's k|v (SD_PROMPT_KV has no effect)");
    }

    public static native long groupNorm(long x, int groups, long gamma, long beta, double eps, boolean silu);

    public static native long geglu(long x, long w, long b);

    /**
     * {@code torch.nn.Conv2d} (groups 1, dilation 1) of x (B, Cin, H, W) with weight (C, Cin, k, k), then its bias
     * (C), {@code nbias} (B, C) per sample and channel (a ResNet's time embedding) and {@code residual} (B, C, H', W')
     * added in one pass (our kernel for fp16 channels-last CUDA tensors, {@code SD_BIAS_KERNEL=0}: PyTorch's adds).
     * {@code nbias} and {@code residual} may be 0. A 1x1 convolution (stride 1, no padding) of an fp16 channels-last
     * input runs as one matrix product over the (B·H·W, Cin) view, its bias in the product's epilogue when nothing else
     * is added, and returns a channels-last view of the product ({@code SD_CONV1X1_GEMM=0}: cuDNN).
     */
    public static native long conv2d(long x, long w, long b, int stride, int padding, long nbias, long residual);

    /** y += bias (C) + nbias (B, C) + residual (B, C, H, W) in place, as {@link #conv2d} adds them (kernel checks). */
    public static native long biasAdd(long y, long b, long nbias, long residual);

    /**
     * GroupNorm (+ SiLU) of {@code x + b + nbias} (x (B, C, H, W), b (C), nbias (B, C) or (1, C) as for {@link #conv2d};
     * b and nbias may be 0): our NHWC kernels add them where they read x, the sum rounded to fp16 as {@link #biasAdd}
     * rounds it; otherwise (not fp16 channels-last CUDA, {@code SD_BIAS_KERNEL=0}) biasAdd's path, then {@link
     * #groupNorm}. x may be overwritten. x = 0 returns 0 (a probe for the function).
     */
    public static native long biasGroupNorm(long x, long b, long nbias, int groups, long gamma, long beta, double eps,
            boolean silu);

    /** {@link #biasGroupNorm(long, long, long, int, long, long, double, boolean)} on DJL arrays; needs the library. */
    public static NDArray biasGroupNorm(NDArray x, NDArray bias, NDArray nbias, int groups, NDArray gamma, NDArray beta,
            double eps, boolean silu) {
        return wrap(x, biasGroupNorm(h(x), h(bias), h(nbias), groups, h(gamma), h(beta), eps, silu));
    }

    /**
     * Whether ResNet blocks run conv1 without its bias and add the bias and time embedding inside the next GroupNorm
     * ({@link #biasGroupNorm}): the library is in use, has the function, and {@link #FUSED_BIAS_NORM} is on (then
     * conv1 adds them in {@link #conv2d}'s pass and {@link #groupNorm} follows).
     */
    public static boolean fusedBiasNorm() {
        return enabled() && FUSED_BIAS_NORM.active();
    }

    // the up blocks' skip connections (issue 17): diffusers' UpBlock2D / CrossAttnUpBlock2D run a ResNet block on
    // torch.cat([hidden_states, res_hidden_states], dim=1), read only by its norm1 and its conv_shortcut

    /**
     * GroupNorm (+ SiLU) of {@code cat([x1, x2], 1)}, x1 (B, C1, H, W) and x2 (B, C2, H, W) (gamma, beta fp16 (C1 + C2)
     * or 0): where {@link #catPartsFit(long, long, int)} holds but for {@code SD_CONV1X1_GEMM}, which the norm does not
     * need, our NHWC kernels read both parts in place and return a channels-last (B, C1 + C2, H, W) tensor bit for bit
     * equal to {@link #groupNorm} of the concatenation; otherwise the concatenation and {@link #groupNorm}.
     */
    public static native long catGroupNorm(long x1, long x2, int groups, long gamma, long beta, double eps, boolean silu);

    /**
     * A 1x1 convolution (stride 1, no padding) of {@code cat([x1, x2], 1)} with weight w (Cout, C1 + C2, 1, 1) and bias
     * b (Cout) or 0: two matrix products into one channels-last (B, Cout, H, W) output, {@code x1·W1ᵀ + b}, then {@code
     * += x2·W2ᵀ} in place, W1 and W2 views of w's columns (LoRA patches of w apply; the output rounded to fp16 after each
     * product), where what they need holds ({@code cat_conv1x1_fit} in sd_native_ops.cc): {@code SD_UPBLOCK_NO_CAT} and
     * {@code SD_CONV1X1_GEMM} on, x1 and x2 fp16 channels-last CUDA tensors of one device with the same B, H, W, 16-byte
     * aligned, C1 and C2 multiples of 8 (as {@link #catPartsFit(long, long, int)} asks, but with no GroupNorm groups or
     * kernels), w fp16 on their device with its (Cout, C1 + C2) memory row-major, b fp16 on their device; otherwise the
     * concatenation and {@link #conv2d}.
     */
    public static native long catConv1x1(long x1, long x2, long w, long b);

    /**
     * Whether {@link #catGroupNorm} (in {@code groups} groups) and {@link #catConv1x1} read x1 (B, C1, H, W) and x2
     * (B, C2, H, W) in place, the up blocks' test: {@code SD_UPBLOCK_NO_CAT} and {@code SD_CONV1X1_GEMM} on, fp16
     * channels-last CUDA tensors with the same B, H, W, 16-byte aligned, C1 and C2 multiples of 8, C1 + C2 in groups our
     * kernels handle, the kernels built for this GPU (catConv1x1 then reads them in place for any fitting weight).
     */
    static native boolean catPartsFit(long x1, long x2, int groups);

    /**
     * Whether x1 and x2 are read in place as their channel concatenation ({@link #catPartsFit(long, long, int)}): false
     * off CUDA and without {@link #upblockNoCat()}, without asking the library.
     */
    public static boolean catPartsFit(NDArray x1, NDArray x2, int groups) {
        return upblockNoCat() && x1.getDevice().isGpu() && x2.getDevice().isGpu() && catPartsFit(h(x1), h(x2), groups);
    }

    /** {@link #catGroupNorm(long, long, int, long, long, double, boolean)} on DJL arrays; needs the library. */
    public static NDArray catGroupNorm(NDArray x1, NDArray x2, int groups, NDArray gamma, NDArray beta, double eps,
            boolean silu) {
        return wrap(x1, catGroupNorm(h(x1), h(x2), groups, h(gamma), h(beta), eps, silu));
    }

    /** {@link #catConv1x1(long, long, long, long)} on DJL arrays (bias may be null); needs the library. */
    public static NDArray catConv1x1(NDArray x1, NDArray x2, NDArray w, NDArray bias) {
        return wrap(x1, catConv1x1(h(x1), h(x2), h(w), h(bias)));
    }

    /**
     * Whether the up blocks' ResNet blocks may take their input and skip connection as two parts ({@link
     * #catGroupNorm}, {@link #catConv1x1}): the library is in use, has the functions, and {@link #UPBLOCK_NO_CAT} is on.
     * Each block still asks {@link #catPartsFit(NDArray, NDArray, int)}.
     */
    public static boolean upblockNoCat() {
        return enabled() && UPBLOCK_NO_CAT.active();
    }

    private static native void setUpblockNoCat(boolean on);

    /**
     * {@code torch.nn.functional.linear} with the bias fused into the product (x (..., in), w (out, in), b (out) or 0;
     * a new (..., out) handle): with {@code SD_LT_AUTOTUNE} on, one cuBLASLt product with the algorithm tuned for its
     * shape where the operands fit (fp16 CUDA tensors, in and out multiples of 8, x's rows and w contiguous, 16-byte
     * aligned: {@link #linearFused}); otherwise {@code at::linear}, as Python's nn.Linear runs it. Both accumulate in
     * fp32 and round once.
     */
    public static native long linear(long x, long w, long b);

    /** Whether {@link #linear(long, long, long)} runs these as one cuBLASLt product (nothing runs). */
    static native boolean linearFused(long x, long w, long b);

    /**
     * {@code x·wᵀ + b [+ r]} (x (..., K), w (N, K), b (N) or 0, r (..., N) or 0) run once with each of cuBLASLt's
     * candidate algorithms for it, those autotuning times (kernel checks: every algorithm it may pick against the
     * oracle), whatever the switches say: new (..., N) handles in the heuristic's order, 0 where cuBLASLt refused one;
     * empty where the operands do not fit an fp16 cuBLASLt product (as {@link #linear}) or it has no algorithm.
     */
    static native long[] linearCandidates(long x, long w, long b, long r);

    /** What cuBLASLt autotuning found, from the library ({@link #autotuneReport()}). */
    private static native String ltTuneReport();

    /**
     * What {@code SD_LT_AUTOTUNE} found so far (the benchmark prints it after warm-up): a summary line (product shapes
     * tuned, how many of them run another algorithm than cuBLASLt's heuristic pick, shapes seen but not tuned), then
     * one line per tuned shape, e.g. {@code M 65536 N 320 K 320 fp16 +bias: picked #3 of 8 (8 ran), 0.0412 ms vs the
     * heuristic's #0 0.0531 ms (1.29x)} (ms per call, timed on the GPU); or why there is none (no library, or one built
     * before autotuning).
     */
    public static String autotuneReport() {
        if (!AVAILABLE) {
            return "native ops not loaded: no cuBLASLt autotuning";
        }
        if (!LT_AUTOTUNE.linked()) {
            return "the native library has no cuBLASLt autotuning (built before it): rebuild it";
        }
        return ltTuneReport();
    }

    /**
     * {@code x·wᵀ + b + r} (x (..., K), w (N, K), b (N) or 0, r (..., N) in the output's shape; a new handle): one
     * cuBLASLt product whose C operand is the residual (beta = 1) and whose epilogue adds the bias, for fp16 CUDA
     * tensors with K and N multiples of 8, x's rows, w and r contiguous, 16-byte aligned; {@code at::linear} + add
     * otherwise or with {@code SD_LT_RESIDUAL=0}.
     */
    static native long linearResidual(long x, long w, long b, long r);

    /** Whether {@link #linearResidual(long, long, long, long)} runs these as one cuBLASLt product (nothing runs). */
    static native boolean linearResidualFused(long x, long w, long b, long r);

    /**
     * A linear layer and the residual add after it, {@code residual + (x·wᵀ + b)} (x (..., K), w (N, K), b (N) or
     * null, residual (..., N)): diffusers' {@code ff_output + hidden_states} and {@code proj_out(hidden_states) +
     * residual}, transformers' CLIP {@code residual + mlp(hidden_states)}, in one cuBLASLt product where
     * {@link #linearResidual(long, long, long, long)} applies (one pass over the output less). Needs the library; one
     * built before the function runs {@link #linear} and DJL's add.
     */
    public static NDArray linearResidual(NDArray x, NDArray w, NDArray b, NDArray residual) {
        if (!LT_RESIDUAL.linked()) {
            return residual.add(wrap(x, linear(h(x), h(w), h(b))));
        }
        return wrap(x, linearResidual(h(x), h(w), h(b), h(residual)));
    }

    // the ResNet blocks' time-embedding projections (issue 17): diffusers' ResnetBlock2D projects SiLU(emb) with its
    // own time_emb_proj, one small product per block

    /**
     * {@code y_i = x·w_iᵀ + b_i} for every i (x (B, K), weights[i] (N_i, K), biases[i] (N_i) or 0; the arrays of one
     * length): new (B, N_i) handles, one per weight, in order. Our kernel (time_proj.cu) computes all of them in one
     * launch where {@link #timeProjectionsKernel(long, long[], long[])} says so, each output then a contiguous block
     * of one allocation (16-byte aligned); otherwise one {@link #linear(long, long, long)} each. The weights are read
     * where they are at each call (LoRA patches in place apply). x = 0 returns an empty array (a probe for the
     * function).
     *
     * @throws IllegalStateException (from the library) for arrays of different lengths, a weight handle 0, or shapes
     *     the products do not take
     */
    static native long[] timeProjections(long x, long[] weights, long[] biases);

    /**
     * Whether {@link #timeProjections(long, long[], long[])} runs our kernel for these (nothing runs): x fp16 (B, K)
     * contiguous CUDA with 1 ≤ B ≤ 16, K a multiple of 8 and B·K·2 bytes ≤ 48 KB; every weight fp16 (N_i, K)
     * contiguous on x's device with N_i a multiple of 8, every bias fp16 (N_i) contiguous or 0; all 16-byte aligned;
     * the kernel built for this GPU.
     */
    static native boolean timeProjectionsKernel(long x, long[] weights, long[] biases);

    /**
     * Whether the UNet computes its ResNet blocks' time-embedding projections in one call ({@link
     * #timeProjections(NDArray, NDArray[], NDArray[])}): the library is in use, has the function, and {@link
     * #TIME_PROJ_KERNEL} is on. Otherwise each block runs its own {@code time_emb_proj}.
     */
    public static boolean timeProjKernel() {
        return enabled() && TIME_PROJ_KERNEL.active();
    }

    /**
     * {@link #timeProjections(long, long[], long[])} on DJL arrays (biases[i] may be null): the outputs (B, N_i) on x's
     * manager, in the weights' order. Needs the library.
     */
    public static NDArray[] timeProjections(NDArray x, NDArray[] weights, NDArray[] biases) {
        long[] w = new long[weights.length];
        long[] b = new long[weights.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = h(weights[i]);
            b[i] = h(biases[i]);
        }
        long[] handles = timeProjections(h(x), w, b);
        NDArray[] out = new NDArray[handles.length];
        for (int i = 0; i < handles.length; i++) {
            out[i] = wrap(x, handles[i]);
        }
        return out;
    }

    public static native long layerNorm(long x, long gamma, long beta, double eps);

    public static native long[] addLayerNorm(long x, long d, long gamma, long beta, double eps);

    /**
     * {@code torch.nn.functional.layer_norm} of {@code x} (..., C) over C: our kernel (layer_norm.cu) for fp16
     * contiguous CUDA tensors with fp16 (C) gamma and beta and C a multiple of 8 up to 2048, PyTorch's layer_norm
     * otherwise or with {@code SD_LAYERNORM_KERNEL=0}. Needs the library.
     */
    public static NDArray layerNorm(NDArray x, NDArray gamma, NDArray beta, double eps) {
        return wrap(x, layerNorm(h(x), h(gamma), h(beta), eps));
    }

    /**
     * Residual add + LayerNorm in one pass: {@code {s = x + d, layer_norm(s)}} (s rounded to x's type first, as
     * PyTorch's add; the same kernel and fallback as {@link #layerNorm(NDArray, NDArray, NDArray, double)}, then
     * PyTorch's add and layer_norm). {@code d} has the shape of {@code x}. Needs the library.
     */
    public static NDArray[] addLayerNorm(NDArray x, NDArray d, NDArray gamma, NDArray beta, double eps) {
        long[] r = addLayerNorm(h(x), h(d), h(gamma), h(beta), eps);
        return new NDArray[] {wrap(x, r[0]), wrap(x, r[1])};
    }

    // FP8 linears (issue 17): the transformer blocks' linears after a LayerNorm as FP8 products of the norm's output

    /** The least compute capability (major · 10 + minor) with FP8 tensor cores: Ada (8.9); Hopper is 9.0. */
    public static final int FP8_MIN_CAPABILITY = 89;

    /**
     * Why the transformer blocks' FP8 linears are off, or null when they are on: native ops in use, the library has the
     * FP8 functions, {@code SD_FP8_LINEARS} not 0 (default on; or as {@link #FP8_LINEARS} was last set) and a CUDA
     * device of compute capability 8.9 or more (asked once, only when the rest holds). Per layer, {@code
     * Fp8Linear.fits} adds: an fp16 model on CUDA, C a multiple of 16.
     */
    public static String fp8LinearsOff() {
        return fp8LinearsOff(enabled(), FP8_LINEARS.linked(), FP8_LINEARS.on(), LAYERNORM_KERNEL.on(),
                () -> Capability.VALUE);
    }

    /**
     * {@link #fp8LinearsOff()}'s rule on its inputs.
     *
     * @param layerNormKernel our LayerNorm kernel on ({@code SD_LAYERNORM_KERNEL} not 0): the FP8 inputs are its output
     *     (PyTorch's passes in its place would cost more than the FP8 products save)
     * @param capability the device's compute capability (major · 10 + minor, -1 for none), asked last
     */
    static String fp8LinearsOff(boolean nativeOps, boolean linked, boolean on, boolean layerNormKernel,
            java.util.function.IntSupplier capability) {
        if (!nativeOps) {
            return "native ops not in use";
        }
        if (!linked) {
            return "the native library has no FP8 functions: rebuild it";
        }
        if (!on) {
            return "SD_FP8_LINEARS=0";
        }
        if (!layerNormKernel) {
            return "SD_LAYERNORM_KERNEL=0 (the FP8 inputs are our LayerNorm kernel's output)";
        }
        int cc = capability.getAsInt();
        if (cc < 0) {
            return "no CUDA device";
        }
        return cc < FP8_MIN_CAPABILITY ? String.format(java.util.Locale.ROOT,
                "compute capability %d.%d, FP8 tensor cores need 8.9", cc / 10, cc % 10) : null;
    }

    /**
     * Why the FP8 path cannot run here whatever {@code SD_FP8_LINEARS} says (the kernel checks and the benchmark's A/B
     * run it where it can), or null: {@link #fp8LinearsOff()} without the switch.
     */
    public static String fp8Unsupported() {
        return fp8LinearsOff(enabled(), FP8_LINEARS.linked(), true, LAYERNORM_KERNEL.on(), () -> Capability.VALUE);
    }

    /** Whether the FP8 linears are on ({@link #fp8LinearsOff()} gives no reason to be off). */
    public static boolean fp8Linears() {
        return fp8LinearsOff() == null;
    }

    /**
     * Why the transformer blocks' ff.net.2 does not run as an FP8 product of the GEGLU gate's FP8 output, or null when it
     * does: FP8 linears on ({@link #fp8LinearsOff()}: else its reason), the library has the functions and {@code
     * SD_FP8_FF_OUT} not 0 (default on; or as {@link #FP8_FF_OUT} was last set). Per layer, {@code Fp8Linear.fits} adds
     * what it adds for the others (K = 4C a multiple of 16 then); per call, a shape cuBLASLt has no outer-vector FP8
     * algorithm for runs ff.net.2 in fp16 ({@link #feedForwardFp8}).
     */
    public static String fp8FfOutOff() {
        return fp8FfOutOff(fp8LinearsOff(), FP8_FF_OUT.linked(), FP8_FF_OUT.on(), GEGLU_KERNEL.on());
    }

    /**
     * {@link #fp8FfOutOff()}'s rule on its inputs.
     *
     * @param fp8LinearsOff {@link #fp8LinearsOff()}'s answer
     * @param gegluKernel our GEGLU gate kernel on ({@code SD_GEGLU_KERNEL} not 0): ff.net.2's FP8 input is its output
     */
    static String fp8FfOutOff(String fp8LinearsOff, boolean linked, boolean on, boolean gegluKernel) {
        if (fp8LinearsOff != null) {
            return fp8LinearsOff;
        }
        if (!linked) {
            return "the native library has no FP8 ff.net.2 functions: rebuild it";
        }
        if (!on) {
            return "SD_FP8_FF_OUT=0";
        }
        return gegluKernel ? null : "SD_GEGLU_KERNEL=0 (ff.net.2's FP8 input is our gate kernel's output)";
    }

    /** Whether ff.net.2 runs as an FP8 product ({@link #fp8FfOutOff()} gives no reason not to). */
    public static boolean fp8FfOut() {
        return fp8FfOutOff() == null;
    }

    /**
     * Why the transformer blocks' GEGLU intermediate is not written as e4m3, or null when it is: ff.net.2 as an FP8
     * product ({@link #fp8FfOutOff()}: else its reason; the e4m3 gate writes ff.net.2's FP8 input), the library has the
     * functions and {@code SD_FP8_GEGLU} is 1 (default off; or as {@link #FP8_GEGLU} was last set). Per call, shapes
     * cuBLASLt has no e4m3-output algorithm for keep the fp16 intermediate ({@link #feedForwardFp8E4m3}).
     */
    public static String fp8GegluOff() {
        return fp8GegluOff(fp8FfOutOff(), FP8_GEGLU.linked(), FP8_GEGLU.on());
    }

    /**
     * {@link #fp8GegluOff()}'s rule on its inputs.
     *
     * @param fp8FfOutOff {@link #fp8FfOutOff()}'s answer
     */
    static String fp8GegluOff(String fp8FfOutOff, boolean linked, boolean on) {
        if (fp8FfOutOff != null) {
            return fp8FfOutOff;
        }
        if (!linked) {
            return "the native library has no e4m3 GEGLU functions: rebuild it";
        }
        return on ? null : "SD_FP8_GEGLU not 1";
    }

    /** Whether the GEGLU intermediate is written as e4m3 ({@link #fp8GegluOff()} gives no reason not to). */
    public static boolean fp8Geglu() {
        return fp8GegluOff() == null;
    }

    /**
     * One FP8 path of the UNet: its switch and why it does not run now.
     *
     * @param toggle the path's switch ({@code SD_FP8_*})
     * @param offReason why the path does not run now (its {@code NativeOps.fp8*Off()}), null when it runs
     */
    public record Fp8Path(Switch toggle, java.util.function.Supplier<String> offReason) {
    }

    /**
     * Every FP8 path with its switch, in dependency order (the transformer blocks', then the ResNet blocks' {@code
     * SD_FP8_CONV}, independent of them): the one place that lists them (a new FP8 switch is added here and nowhere else; Fp8LinearsSwitchTest checks that every {@link Switch} whose
     * setting's name contains {@code FP8} is here). {@link #setFp8} turns them all off or back as configured (the
     * bench's one image and the doctor's tiny model with the FP8 paths as configured against all off: {@code
     * StableDiffusionPipeline.setFp8}), {@link #fp8PathsOn()} and {@link #fp8Off()} say which run, {@link
     * #fp8Workaround()} names the switches that are on.
     */
    public static final List<Fp8Path> FP8_PATHS = List.of(new Fp8Path(FP8_LINEARS, NativeOps::fp8LinearsOff),
            new Fp8Path(FP8_FF_OUT, NativeOps::fp8FfOutOff), new Fp8Path(FP8_GEGLU, NativeOps::fp8GegluOff),
            new Fp8Path(FP8_CONV, NativeOps::fp8ConvOff));

    /**
     * Every FP8 switch of {@link #FP8_PATHS} on ({@code true}: tests only, it would turn on the opt-in {@link
     * #FP8_GEGLU} too), off ({@code false}) or back as configured ({@code null}), as {@link Switch#set} does for one.
     * The model's FP8 companions and captured CUDA graphs are the caller's to match ({@code
     * StableDiffusionPipeline.setFp8} does both); the caller restores with {@code null}.
     */
    public static void setFp8(Boolean on) {
        FP8_PATHS.forEach(p -> p.toggle().set(on));
    }

    /** The settings' names of the FP8 paths that run now ({@link Fp8Path#offReason()} null), in {@link #FP8_PATHS}. */
    public static List<String> fp8PathsOn() {
        return FP8_PATHS.stream().filter(p -> p.offReason().get() == null).map(p -> p.toggle().name()).toList();
    }

    /**
     * Why no FP8 path runs now: the paths' distinct reasons joined by {@code "; "} (e.g. {@code "SD_FP8_LINEARS=0"}
     * once, the others following it), or null when one runs.
     */
    public static String fp8Off() {
        List<String> why = FP8_PATHS.stream().map(p -> p.offReason().get()).toList();
        return why.contains(null) ? null : why.stream().distinct().collect(Collectors.joining("; "));
    }

    /**
     * The settings that turn every FP8 path off: each switch of {@link #FP8_PATHS} that is on ({@link Switch#on()}, as
     * configured or last set) at 0, e.g. {@code SD_FP8_LINEARS=0 SD_FP8_FF_OUT=0 SD_FP8_CONV=0} with the defaults
     * ({@code SD_FP8_GEGLU} is off unless 1); every switch at 0 where none is on.
     */
    public static String fp8Workaround() {
        List<Fp8Path> on = FP8_PATHS.stream().filter(p -> p.toggle().on()).toList();
        return (on.isEmpty() ? FP8_PATHS : on).stream().map(p -> p.toggle().name() + "=0")
                .collect(Collectors.joining(" "));
    }

    // FP8 convolutions (SD_FP8_CONV): the UNet's ResNet blocks' 3x3 convolutions on FP8 tensor cores

    /** The compute capability (major · 10 + minor) the FP8 convolution kernel needs: Hopper (9.0, sm_90a's wgmma). */
    public static final int FP8_CONV_CAPABILITY = 90;

    /**
     * Why the ResNet blocks' FP8 convolutions are off, or null when they are on: native ops in use, the library has the
     * functions, {@code SD_FP8_CONV} not 0 (default on; or as {@link #FP8_CONV} was last set), a CUDA device of compute
     * capability 9.0 and a library whose kernel is built for sm_90a (both asked once, only when the rest holds). Per
     * block, {@code ResnetBlock2D} adds: the FP8 weights made (an fp16 UNet on CUDA) and {@link #fp8ResnetFits}.
     */
    public static String fp8ConvOff() {
        return fp8ConvOff(enabled(), FP8_CONV.linked(), FP8_CONV.on(), () -> Capability.VALUE,
                () -> Fp8ConvBuilt.VALUE);
    }

    /**
     * {@link #fp8ConvOff()}'s rule on its inputs.
     *
     * @param capability the device's compute capability (major · 10 + minor, -1 for none), asked after the switch
     * @param built whether the library's FP8 convolution kernel runs on this device (built for sm_90a), asked last
     */
    static String fp8ConvOff(boolean nativeOps, boolean linked, boolean on, java.util.function.IntSupplier capability,
            java.util.function.BooleanSupplier built) {
        if (!nativeOps) {
            return "native ops not in use";
        }
        if (!linked) {
            return "the native library has no FP8 convolution functions: rebuild it";
        }
        if (!on) {
            return "SD_FP8_CONV=0";
        }
        int cc = capability.getAsInt();
        if (cc < 0) {
            return "no CUDA device";
        }
        if (cc != FP8_CONV_CAPABILITY) {
            return String.format(java.util.Locale.ROOT,
                    "compute capability %d.%d, the FP8 convolution kernel needs 9.0 (Hopper)", cc / 10, cc % 10);
        }
        return built.getAsBoolean() ? null : "the native library's FP8 convolution is not built for sm_90a";
    }

    /**
     * Why the FP8 convolutions cannot run here whatever {@code SD_FP8_CONV} says (the kernel checks run them where they
     * can), or null: {@link #fp8ConvOff()} without the switch.
     */
    public static String fp8ConvUnsupported() {
        return fp8ConvOff(enabled(), FP8_CONV.linked(), true, () -> Capability.VALUE, () -> Fp8ConvBuilt.VALUE);
    }

    /** Whether the ResNet blocks' FP8 convolutions are on ({@link #fp8ConvOff()} gives no reason to be off). */
    public static boolean fp8Conv() {
        return fp8ConvOff() == null;
    }

    /** Whether the library's FP8 convolution runs on the current device, asked once (SD 1.5's 64x64 320 → 320). */
    private static final class Fp8ConvBuilt {
        static final boolean VALUE = query();

        private static boolean query() {
            try {
                return conv3x3Fp8Supported(1, 64, 64, 320, 320);
            } catch (RuntimeException | UnsatisfiedLinkError e) {
                LOG.warn("FP8 convolution support not known ({}): FP8 convolutions off", e.toString());
                return false;
            }
        }
    }

    /**
     * SiLU(GroupNorm(x + b + nbias)) as e4m3 bytes: x (B, C, H, W), b (C) or 0, nbias (B, C) or (1, C) or 0 as for
     * {@link #biasGroupNorm}; a new (B, H, W, C) contiguous handle of e4m3 bytes (DJL's UINT8) = e4m3(SiLU(...) · s_x)
     * with the static s_x = 1 ({@code Fp8Conv.INPUT_SCALE}; group_norm_nhwc.cu's header says why 1 suffices), SiLU's
     * float32 value converted once (round to nearest even, saturating at ±448). Our NHWC kernels (three launches or
     * one, as for {@link #groupNorm}) for fp16 channels-last CUDA x; otherwise PyTorch's conversion of {@link
     * #biasGroupNorm}'s fp16 output (one more rounding). x may be overwritten.
     */
    static native long groupNormSiluE4m3(long x, long b, long nbias, int groups, long gamma, long beta, double eps);

    /** {@link #groupNormSiluE4m3(long, long, long, int, long, long, double)} on DJL arrays (b, nbias may be null). */
    public static NDArray groupNormSiluE4m3(NDArray x, NDArray b, NDArray nbias, int groups, NDArray gamma,
            NDArray beta, double eps) {
        return wrap(x, groupNormSiluE4m3(h(x), h(b), h(nbias), groups, h(gamma), h(beta), eps));
    }

    /**
     * SiLU(GroupNorm(cat([x1, x2], 1))) as e4m3 bytes (B, H, W, C1 + C2), as {@link #groupNormSiluE4m3(long, long, long,
     * int, long, long, double)} of the concatenation: both parts read in place where {@link #catGroupNorm} reads them,
     * bit for bit the same bytes; otherwise PyTorch's conversion of {@link #catGroupNorm}'s fp16 output.
     */
    static native long catGroupNormSiluE4m3(long x1, long x2, int groups, long gamma, long beta, double eps);

    /** {@link #catGroupNormSiluE4m3(long, long, int, long, long, double)} on DJL arrays. */
    public static NDArray catGroupNormSiluE4m3(NDArray x1, NDArray x2, int groups, NDArray gamma, NDArray beta,
            double eps) {
        return wrap(x1, catGroupNormSiluE4m3(h(x1), h(x2), groups, h(gamma), h(beta), eps));
    }

    /**
     * The FP8 3x3 convolution (stride 1, padding 1; cross-correlation as {@code torch.nn.Conv2d}; conv_fp8.cu): {@code
     * y[b, k, h, w] = fp16(descale[k] · Σ_{r,s,c} x8[b, h+r-1, w+s-1, c] · w8[k, r, s, c] + bias[k] + residual[b, k, h,
     * w])}, products of e4m3 values exact, sums in fp32, one rounding to fp16. x8 e4m3 bytes (B, H, W, C) contiguous
     * ({@link #groupNormSiluE4m3}'s output); w8 e4m3 bytes in KRSC order, (K, 3, 3, C) or (K, 9C), contiguous; descale
     * float32 (K) = s_w[k] / s_x; bias fp16 (K) or 0; residual fp16 channels-last (B, K, H, W) or 0; all on the current
     * CUDA device, 16-byte aligned. A new channels-last (B, K, H, W) fp16 handle. x8 = 0 returns 0 (a probe for the
     * function).
     *
     * @throws IllegalStateException (from the library) for operands that do not fit, or a shape the kernel does not take
     *     ({@link #conv3x3Fp8Supported}); it never falls back for those. A launch that fails (e.g.
     *     cudaFuncSetAttribute refused) is logged once, computed by PyTorch's fp16 convolution of the dequantised
     *     operands, and turns the FP8 convolution off ({@link #fp8ResnetFits} false from then on)
     */
    static native long conv3x3Fp8(long x8, long w8, long descale, long b, long r);

    /** {@link #conv3x3Fp8(long, long, long, long, long)} on DJL arrays (bias, residual may be null); needs the library. */
    public static NDArray conv3x3Fp8(NDArray x8, NDArray w8, NDArray descale, NDArray bias, NDArray residual) {
        return wrap(x8, conv3x3Fp8(h(x8), h(w8), h(descale), h(bias), h(residual)));
    }

    /**
     * Whether the FP8 convolution takes (n, h, w, c) → k on the current CUDA device (conv_fp8.cu's {@code
     * sd_conv3x3_fp8_supported}: compute capability 9.0, a library built for sm_90a, c a multiple of 64, k of 160, and
     * its tile rules for h and w); false without a CUDA device. Nothing runs.
     */
    public static native boolean conv3x3Fp8Supported(long n, long h, long w, long c, long k);

    /**
     * Whether a ResNet block's FP8 path takes x (B, Cin, H, W), or x and x2 as the parts of an up block's concatenation
     * ({@link #catPartsFit(long, long, int)} for the norm), to cout channels in {@code groups} groups (nothing runs):
     * fp16 channels-last CUDA x, 16-byte aligned, our NHWC GroupNorm kernels for norm1 (Cin channels) and, with the
     * addend, norm2 (cout), built for this GPU, and {@link #conv3x3Fp8Supported} for (B, H, W, Cin) → cout and (B, H, W,
     * cout) → cout; false from the FP8 convolution's first failed launch on (the library logs it, computes that call by
     * PyTorch and turns the kernel off, as its GroupNorm kernels' {@code group_norm_unusable}).
     */
    static native boolean fp8ResnetFits(long x, long x2, int groups, int cout);

    /**
     * {@link #fp8ResnetFits(long, long, int, int)} on DJL arrays (x2 may be null): false off CUDA and for other types
     * than fp16, without asking the library.
     */
    public static boolean fp8ResnetFits(NDArray x, NDArray x2, int groups, int cout) {
        return x.getDevice().isGpu() && x.getDataType() == ai.djl.ndarray.types.DataType.FLOAT16
                && (x2 == null || x2.getDevice().isGpu()) && fp8ResnetFits(h(x), h(x2), groups, cout);
    }

    /** The compute capability of the current CUDA device, asked once. */
    private static final class Capability {
        static final int VALUE = query();

        private static int query() {
            try {
                return computeCapability();
            } catch (RuntimeException e) { // the library's CUDA error: no usable device
                LOG.warn("compute capability not known ({}): FP8 linears off", e.toString());
                return -1;
            }
        }
    }

    /** Major · 10 + minor of the current CUDA device (libtorch's device properties), -1 without one. */
    private static native int computeCapability();

    /**
     * LayerNorm without affine over the last axis of x (..., C), its output as FP8: {sum, y8} with sum = x + d (fp16,
     * as {@link #addLayerNorm} writes it; 0 when d is 0) and y8 (..., C) e4m3 bytes (DJL's UINT8) = e4m3((s - mean) ·
     * rstd · scale), round to nearest even, saturating at ±448. Our LayerNorm kernel for what it takes ({@link
     * #layerNorm}), PyTorch's ops otherwise.
     */
    static native long[] layerNormFp8(long x, long d, double eps, double scale);

    /**
     * {@link #layerNormFp8(long, long, double, double)} on DJL arrays (d may be null): {sum or null, y8}. Needs the
     * library.
     */
    public static NDArray[] layerNormFp8(NDArray x, NDArray d, double eps, double scale) {
        long[] r = layerNormFp8(h(x), h(d), eps, scale);
        return new NDArray[] {r[0] == 0 ? null : wrap(x, r[0]), wrap(x, r[1])};
    }

    /**
     * The FP8 product {@code y = (x8·w8ᵀ)·scales[0]·scales[4] + b} (x8 (..., K) and w8 (N, K) e4m3 bytes, contiguous,
     * K a multiple of 16, N of 8; scales float32 (8), 16-byte aligned, s_w at 0 and 1/s_x at 4, as {@code
     * Fp8Linear.scales}; b fp16 (N) or 0; a new (..., N) fp16 handle): one cuBLASLt FP8 matmul (fp32 accumulation in
     * cuBLASLt's fast-accumulation mode, bias in its epilogue) where it has an algorithm, else the same
     * values in float32 (slow). x8 = 0 returns 0 (a probe for the function).
     */
    static native long linearFp8(long x8, long w8, long scales, long b);

    /** Whether {@link #linearFp8(long, long, long, long)} runs these as one cuBLASLt FP8 product (nothing runs). */
    static native boolean linearFp8Fused(long x8, long w8, long scales, long b);

    /** {@link #linearFp8(long, long, long, long)} on DJL arrays (b may be null); needs the library. */
    public static NDArray linearFp8(NDArray x8, NDArray w8, NDArray scales, NDArray b) {
        return wrap(x8, linearFp8(h(x8), h(w8), h(scales), h(b)));
    }

    /**
     * As {@link #selfAttention} without a mask, for an FP8 input x8 (B, N, C) (e4m3 bytes from {@link #layerNormFp8}):
     * its q|k|v projection is {@link #linearFp8(long, long, long, long)} with w8 (3C, C), scales, b (3C) or 0; residual
     * fp16 (B, N, C) or 0 as {@link #selfAttention}'s.
     */
    public static native long selfAttentionFp8(long x8, long w8, long scales, long b, long wout, long bout, int heads,
            long residual);

    /**
     * As {@link #crossAttention}, for an FP8 input x8 (B, N, C): its q projection is {@link #linearFp8(long, long,
     * long, long)} with w8 (C, C), scales, b (C) or 0; k and v from the fp16 context as before; residual fp16 (B, N,
     * C) or 0 as {@link #selfAttention}'s.
     */
    public static native long crossAttentionFp8(long x8, long ctx, long w8, long scales, long b, long wkv, long bkv,
            long wout, long bout, int heads, long residual);

    /** As {@link #geglu} for an FP8 input x8 (..., C): the projection is {@link #linearFp8(long, long, long, long)}. */
    public static native long gegluFp8(long x8, long w8, long scales, long b);

    /**
     * Writes an FP8 weight in place from its float32 value: s_w = amax|wf| / 448, w8 = e4m3(wf / s_w) (PyTorch's
     * conversion, round to nearest even), scales[0] = s_w and scales[4] = invSx ({@code Fp8Linear.SCALE_SLOTS}); on the
     * device, no sync. wf (N, K) float32, w8 (N, K) bytes, scales float32 (8), one device.
     *
     * @throws IllegalStateException (from the library) for other types or shapes
     */
    public static native void fp8Quantize(long wf, long w8, long scales, double invSx);

    /**
     * GEGLU's gate of h (..., 2I) = [a, g] as FP8 with one scale per row: {q (..., I) e4m3 bytes (DJL's UINT8), s (rows)
     * float32}, rows = h.numel() / 2I: v = a·gelu(g) in float32 (exact erf GELU; not rounded to fp16 first, as the
     * fp16 gate rounds it), s = amax|v| / 448 per row, q = e4m3(v · r) with r = 448 / amax|v| (an IEEE division once
     * per row; both 1 for an all-zero row; the float32 product, then round to nearest even, saturating at ±448:
     * geglu.cu's row_scale). Our kernel (geglu.cu) for fp16 contiguous CUDA h with I a multiple of 8 up to 16384 ({@code
     * SD_GEGLU_KERNEL} on), PyTorch's ops otherwise.
     *
     * @throws IllegalStateException (from the library) where the shapes do not fit
     */
    static native long[] gegluGateFp8(long h);

    /** {@link #gegluGateFp8(long)} on DJL arrays: {q, s}. Needs the library. */
    public static NDArray[] gegluGateFp8(NDArray h) {
        long[] r = gegluGateFp8(h(h));
        return new NDArray[] {wrap(h, r[0]), wrap(h, r[1])};
    }

    /**
     * The FP8 product with per-token and per-output-feature scales, bias and residual: {@code y[m, n] = (x8·w8ᵀ)[m,
     * n]·ws[n]·xs[m] + b[n] + r[m, n]}, x8 (..., K) and w8 (N, K) e4m3 bytes, contiguous, K a multiple of 16, N of 8; xs
     * (M rows of x8) and ws (N) float32, each 16-byte aligned (the start of an allocation of its own); b fp16 (N) or 0;
     * r fp16 (..., N) contiguous; a new (..., N) fp16 handle. One cuBLASLt FP8 matmul with outer-vector scales (fast
     * accumulation, bias in its epilogue, r as C with beta 1) where it has an algorithm (cuBLASLt 12.9+; measured on the
     * H200), else the same values in float32 (slow). x8 = 0 returns 0 (a probe for the function).
     */
    static native long linearResidualFp8(long x8, long xs, long w8, long ws, long b, long r);

    /** Whether {@link #linearResidualFp8(long, long, long, long, long, long)} runs as one cuBLASLt product (nothing runs). */
    static native boolean linearResidualFp8Fused(long x8, long xs, long w8, long ws, long b, long r);

    /** {@link #linearResidualFp8(long, long, long, long, long, long)} on DJL arrays (b may be null); needs the library. */
    public static NDArray linearResidualFp8(NDArray x8, NDArray xs, NDArray w8, NDArray ws, NDArray b, NDArray r) {
        return wrap(r, linearResidualFp8(h(x8), h(xs), h(w8), h(ws), h(b), h(r)));
    }

    /**
     * A transformer block's feed-forward after norm3 on the FP8 path, plus its residual r (..., C): {@code h =
     * linearFp8(x8, w8, scales, b)} (ff.net.0.proj, (..., 2I)), then, where cuBLASLt has an outer-vector FP8 algorithm
     * for ff.net.2's shapes, {@link #gegluGateFp8(long)} and {@link #linearResidualFp8(long, long, long, long, long,
     * long)} with w8o (C, I) e4m3 bytes, wso (C) float32 per-row scales and bias bo (C) fp16 or 0; elsewhere the fp16
     * gate and {@link #linearResidual(long, long, long, long)} with the fp16 weight wo (C, I). A new (..., C) fp16 handle.
     */
    public static native long feedForwardFp8(long x8, long w8, long scales, long b, long w8o, long wso, long bo, long wo,
            long r);

    /**
     * ff.net.0.proj's FP8 product written as e4m3: {@code y8 = e4m3(ys[0]·((x8·w8ᵀ)·scales[0]·scales[4] + b))} (x8, w8,
     * scales and b as {@link #linearFp8(long, long, long, long)}'s; ys float32 (8), 16-byte aligned, the static output
     * scale s_y at 0 and 1/s_y at 4, as {@code Fp8Linear.outScales}; a new (..., N) handle of e4m3 bytes, DJL's UINT8):
     * one cuBLASLt FP8 matmul with an e4m3 D and its D scale (the fp16 bias in the epilogue, scaled with the product)
     * where it has an algorithm, else the same values in float32, clamped to ±448 (slow). x8 = 0 returns 0 (a probe for
     * the function).
     */
    static native long linearFp8E4m3(long x8, long w8, long scales, long b, long ys);

    /** Whether {@link #linearFp8E4m3(long, long, long, long, long)} runs as one cuBLASLt product (nothing runs). */
    static native boolean linearFp8E4m3Fused(long x8, long w8, long scales, long b, long ys);

    /** {@link #linearFp8E4m3(long, long, long, long, long)} on DJL arrays (b may be null); needs the library. */
    public static NDArray linearFp8E4m3(NDArray x8, NDArray w8, NDArray scales, NDArray b, NDArray ys) {
        return wrap(x8, linearFp8E4m3(h(x8), h(w8), h(scales), h(b), h(ys)));
    }

    /**
     * {@link #gegluGateFp8(long)} of an e4m3 h8 (..., 2I) (bytes, as {@link #linearFp8E4m3(long, long, long, long,
     * long)} writes it): each value times ys[4] (1/s_y) in float32 first, then the same gate and rule: {q (..., I) e4m3
     * bytes, s (rows) float32}. Our kernel (geglu.cu) for contiguous CUDA h8 with I a multiple of 16 up to 16384
     * ({@code SD_GEGLU_KERNEL} on), PyTorch's ops otherwise.
     *
     * @throws IllegalStateException (from the library) where the shapes do not fit
     */
    static native long[] gegluGateE4m3(long h8, long ys);

    /** {@link #gegluGateE4m3(long, long)} on DJL arrays: {q, s}. Needs the library. */
    public static NDArray[] gegluGateE4m3(NDArray h8, NDArray ys) {
        long[] r = gegluGateE4m3(h(h8), h(ys));
        return new NDArray[] {wrap(h8, r[0]), wrap(h8, r[1])};
    }

    /**
     * {@link #feedForwardFp8} with the GEGLU intermediate as e4m3 ({@link #FP8_GEGLU}): where cuBLASLt has algorithms
     * for both FP8 products, {@code h8 = linearFp8E4m3(x8, w8, scales, b, ys)}, {@link #gegluGateE4m3(long, long)} and
     * ff.net.2 as {@link #linearResidualFp8(long, long, long, long, long, long)}; elsewhere {@link #feedForwardFp8}
     * itself. A new (..., C) fp16 handle.
     */
    public static native long feedForwardFp8E4m3(long x8, long w8, long scales, long b, long ys, long w8o, long wso,
            long bo, long wo, long r);

    /**
     * Writes ff.net.2's FP8 weight in place from its weight w (N, K) (any float type, converted to float32 exactly): s_w[n]
     * = amax|w[n, :]| / 448 per row (a tiny positive number for an all-zero row), w8 = e4m3(w / s_w) row by row
     * (PyTorch's conversion, round to nearest even), scales = s_w; w8 (N, K) bytes, scales (N) float32, one device; on the
     * device, no sync.
     *
     * @throws IllegalStateException (from the library) for other types or shapes
     */
    public static native void fp8QuantizeRows(long w, long w8, long scales);

    /** x (any float type) as e4m3 bytes by PyTorch's conversion (x.to(torch.float8_e4m3fn); kernel checks). */
    static native long toFp8Bytes(long x);

    /** e4m3 bytes (DJL's UINT8) as float32, exactly, the same shape (kernel checks' dequantisation). */
    static native long fromFp8Bytes(long x8);

    public static native long gegluGate(long h);

    /** a * gelu(g) for h = (..., 2I) = [a, g]: our kernel for fp16 on CUDA, PyTorch's ops otherwise (checks). */
    public static NDArray gegluGate(NDArray h) {
        return wrap(h, gegluGate(h(h)));
    }

    /**
     * {@code F.interpolate(x, size=(h, w), mode="nearest")} of x (B, C, H, W), a new (B, C, h, w) handle: our kernel
     * (upsample_nearest.cu) for h = 2H and w = 2W exactly, fp16 or float32 CUDA x channels-last (its suggested memory
     * format, dense), C · element size a multiple of 16 bytes, 16-byte aligned, the output channels-last;
     * {@code at::upsample_nearest2d} otherwise or with {@code SD_UPSAMPLE_KERNEL=0}: what DJL's interpolation runs (the
     * same values bit for bit and the same layout either way).
     */
    static native long upsampleNearest(long x, long h, long w);

    /** Whether {@link #upsampleNearest(long, long, long)} runs our kernel for these (nothing runs). */
    static native boolean upsampleNearestKernel(long x, long h, long w);

    /**
     * Whether {@link #upsampleNearest(NDArray, long, long)} is there: the library is in use and has the function (one
     * built before it has not: DJL's interpolation then).
     */
    public static boolean upsampleNearest() {
        return enabled() && UPSAMPLE_KERNEL.linked();
    }

    /**
     * Nearest-neighbour resize of x (B, C, H, W) to (B, C, h, w), as {@link #upsampleNearest(long, long, long)}; needs
     * {@link #upsampleNearest()}.
     */
    public static NDArray upsampleNearest(NDArray x, long h, long w) {
        return wrap(x, upsampleNearest(h(x), h, w));
    }

    public static native void copyInto(long dst, long src);

    // asynchronous host copies (previews; {@link HostCopy})

    /**
     * Queues a float32, row-major copy of a CUDA tensor (float16 or float32, any layout) into pinned host memory on
     * the current stream, and an event after it.
     *
     * @return the copy's handle: read it with {@link #hostCopyRead}, free it with {@link #hostCopyFree}
     */
    static native long hostCopyStart(long x);

    /** Waits for the copy's event (the work queued before the copy, not the work after), then its values. */
    static native float[] hostCopyRead(long copy);

    /** Frees a copy (0 is ignored); safe while it is still in flight. */
    static native void hostCopyFree(long copy);

    /** Whether {@link HostCopy} can start copies: the library is in use and has the functions. */
    static boolean hostCopies() {
        return enabled() && HostCopyLinked.YES;
    }

    /** Whether the loaded library has the host-copy functions (one built before them has not: synchronous copies). */
    private static final class HostCopyLinked {
        static final boolean YES = linked(() -> hostCopyFree(0), "host-copy", "previews copy x0 synchronously");
    }

    static native long fenceRecord();

    static native void fenceRelease(long fence, boolean wait);

    /** Whether {@link StepFence} can record fences: the library is in use and has the functions. */
    static boolean fences() {
        return enabled() && FencesLinked.YES;
    }

    /** Whether the loaded library has the fence functions (one built before them has not: no fences). */
    private static final class FencesLinked {
        static final boolean YES = linked(() -> fenceRelease(0, false), "fence",
                "the step loop does not bound how far the host runs ahead");
    }

    /**
     * Whether the loaded library has a group of functions added after its first release: {@code call} (one of them,
     * harmless with empty arguments) runs, or it throws {@link UnsatisfiedLinkError} and one warning says what a
     * library built before them means ({@code without}) and to rebuild it. Called once per group (a holder class).
     */
    private static boolean linked(Runnable call, String group, String without) {
        try {
            call.run();
            return true;
        } catch (UnsatisfiedLinkError e) {
            LOG.warn("{} has no {} functions (built before them): {}; rebuild it", EngineSettings.value("SD_NATIVE_OPS"),
                    group, without);
            return false;
        }
    }

    /**
     * A switch of the library ({@code docs/GPU.md} lists them): a setting read once when the library loads, on unless
     * {@code 0} (or, made by {@link #offByDefault}, off unless {@code 1}), handed to the library's setter where it has
     * one (else read on the Java side), and set otherwise later by benchmarks' A/Bs and {@link KernelSelfCheck}, which
     * restore it. A switch of functions added after the library's first release is probed when it loads ({@code
     * probe}, or the setter itself): a library built before them lacks them, one warning says so ({@code functions},
     * {@code without}), and {@link #linked()} is false.
     */
    public static final class Switch {
        private final String name;
        private final boolean onByDefault;
        private final Consumer<Boolean> setter;
        private final Runnable probe;
        private final String functions;
        private final String without;
        private boolean configured;
        private volatile boolean on;
        private volatile boolean linked;

        /** A switch in every library: its setter (or, without one, nothing) failing fails the library's load. */
        Switch(String name, Consumer<Boolean> setter) {
            this(name, true, setter, null, null, null);
        }

        /**
         * A switch of functions added later: {@code setter} (the library's, or null for a switch read on the Java side)
         * and then {@code probe} (a harmless call of one of the functions, or null) run when the library loads, and an
         * {@link UnsatisfiedLinkError} from either leaves the switch unlinked.
         */
        Switch(String name, Consumer<Boolean> setter, Runnable probe, String functions, String without) {
            this(name, true, setter, probe, functions, without);
        }

        private Switch(String name, boolean onByDefault, Consumer<Boolean> setter, Runnable probe, String functions,
                String without) {
            this.name = name;
            this.onByDefault = onByDefault;
            this.setter = setter;
            this.probe = probe;
            this.functions = functions;
            this.without = without;
            this.configured = onByDefault;
            this.on = onByDefault;
        }

        /** A switch in every library that is off unless its setting is {@code 1}. */
        static Switch offByDefault(String name, Consumer<Boolean> setter) {
            return new Switch(name, false, setter, null, null, null);
        }

        /**
         * A switch of functions added later ({@link #Switch(String, Consumer, Runnable, String, String)}) that is off
         * unless its setting is {@code 1}.
         */
        static Switch offByDefault(String name, Consumer<Boolean> setter, Runnable probe, String functions,
                String without) {
            return new Switch(name, false, setter, probe, functions, without);
        }

        /** Reads the setting (now) and hands it to the library: when the library loads, and in tests. */
        void load() {
            String v = EngineSettings.value(name);
            configured = onByDefault ? !"0".equals(v) : "1".equals(v);
            on = configured;
            Runnable call = () -> {
                if (setter != null) {
                    setter.accept(configured);
                }
                if (probe != null) {
                    probe.run();
                }
            };
            if (functions == null) {
                call.run();
                linked = true;
            } else {
                linked = NativeOps.linked(call, functions, without); // (a method of its own shadows the name)
            }
        }

        /** The setting's name, e.g. {@code SD_CONV1X1_GEMM}. */
        public String name() {
            return name;
        }

        /** Whether it is on: as configured when the library loaded (the default before), or as {@link #set} left it. */
        public boolean on() {
            return on;
        }

        /** Whether the library loaded and has the switch's functions (false without the library). */
        public boolean linked() {
            return linked;
        }

        /** {@link #on()} and {@link #linked()}: what the switch turns on runs. */
        public boolean active() {
            return on && linked;
        }

        /**
         * On ({@code true}) or off from now on, handed to the library's setter where the switch is {@link #linked()};
         * {@code null} restores the configured value. For benchmarks' A/Bs and {@link KernelSelfCheck}: the caller
         * restores it.
         */
        public void set(Boolean value) {
            on = value == null ? configured : value;
            if (setter != null && linked) {
                setter.accept(on);
            }
        }

        /** {@code NAME on}, {@code NAME off}, or {@code NAME off (not in this library)} (the start-up log). */
        @Override
        public String toString() {
            return name + (active() ? " on" : on ? " off (not in this library)" : " off");
        }
    }

    // LoRA patches (issue 14): every weight of a set in one call

    /**
     * Adds a LoRA set's changes to weights in place, all in one call: for weight {@code i}, the rows
     * {@code [offsets[i], offsets[i] + rows[i])} of {@code storages[i]} (the whole array when {@code rows[i]}
     * is -1) get {@code Σ scales[t] · ups[t] @ downs[t]} (or {@code scales[t] · ups[t]} where {@code downs[t]}
     * is 0) over its terms {@code t} in {@code [ends[i-1], ends[i])}, summed in float32 and added in one
     * rounding to the weight's dtype (PyTorch's in-place add of a float32 tensor), the product viewed in
     * the weight's shape. Every shape is checked before anything is written.
     *
     * @return for each weight with {@code keep[i]}, a new tensor handle holding its values from before
     *     (wrap and own it), else 0
     * @throws IllegalStateException (from the library) on a shape that does not fit; nothing is changed then
     */
    public static native long[] loraAdd(long[] storages, long[] offsets, long[] rows, boolean[] keep, int[] ends,
            long[] ups, long[] downs, double[] scales);

    /**
     * Whether LoRA patches use {@link #loraAdd} and {@link #loraRestore}: the library is in use, has them, and {@link
     * #LORA_NATIVE} is on (as configured, or as a benchmark's A/B last set it; otherwise DJL patches one weight at a
     * time).
     */
    public static boolean loraPatches() {
        return enabled() && LORA_NATIVE.active();
    }

    /** Copies each {@code originals[i]} back into its rows of {@code storages[i]} (as {@link #loraAdd} addresses them). */
    public static native void loraRestore(long[] storages, long[] offsets, long[] rows, long[] originals);

    // memory layout
    public static native long channelsLast(long x);

    public static native long contiguous(long x);

    public static native boolean isChannelsLast(long x);

    /**
     * GroupNorm (+ SiLU) of (B, C, H, W): our NHWC kernels for a channels-last fp16 CUDA tensor (the result stays
     * channels-last), PyTorch's group_norm otherwise (float32 NCHW: with split statistics, {@code SD_FP32_GROUPNORM}).
     * Needs the library.
     */
    public static NDArray groupNorm(NDArray x, int groups, NDArray gamma, NDArray beta, double eps, boolean silu) {
        return wrap(x, groupNorm(h(x), groups, h(gamma), h(beta), eps, silu));
    }

    /** A channels-last copy of a 4-d tensor (benchmarks and checks; needs the library). */
    public static NDArray toChannelsLast(NDArray x) {
        return wrap(x, channelsLast(h(x)));
    }

    /** {@code x} itself, or a row-major copy when it is a channels-last tensor (host copies need row-major). */
    public static NDArray rowMajor(NDArray x) {
        if (!AVAILABLE || !x.getDevice().isGpu() || x.getShape().dimension() != 4 || !isChannelsLast(h(x))) {
            return x;
        }
        return wrap(x, contiguous(h(x)));
    }

    // CUDA graphs
    static native long graphCreate(long sharePoolWith);

    private static native void setCudnnBenchmark(boolean on);

    private static native void setCudnnAttention(boolean on);

    private static native void setGegluKernel(boolean on);

    private static native void setBiasKernel(boolean on);

    private static native void setConv1x1Gemm(boolean on);

    private static native void setLtResidual(boolean on);

    private static native void setLtAutotune(boolean on);

    private static native void setUpsampleKernel(boolean on);

    private static native void setCrossAttentionKernel(boolean on);

    private static native void setSelfAttentionKernel(boolean on);

    private static native void setWideHeadAttention(boolean on);

    private static native void setFp32GroupNormSplit(boolean on);

    private static native void setGroupNormOnePass(boolean on);

    /**
     * Whether our NHWC GroupNorm kernels ({@link #groupNorm}, {@code biasGroupNorm}, {@code catGroupNorm} on fp16
     * channels-last CUDA tensors) normalise hw pixels of c channels in {@code groups} groups in one launch rather than
     * three, as {@link #GROUP_NORM_ONE_PASS} is set now (any batch size; nothing runs): c / groups even and at most
     * 1024, and c / groups · hw at most 24576 (16384 where c / groups is not a multiple of 4). Needs a library with
     * the switch ({@link #GROUP_NORM_ONE_PASS}{@code .linked()}).
     */
    static native boolean groupNormOnePass(long hw, int c, int groups);

    private static native void setFp32AttentionInHalf(boolean on);

    private static native void setLayerNormKernel(boolean on);

    static native void graphEnter(long graph);

    static native void graphExit(long graph);

    static native void graphCaptureBegin(long graph);

    static native void graphCaptureEnd(long graph);

    static native void graphReplay(long graph);

    static native void graphDestroy(long graph);

    // device and allocator
    private static native void synchronize();

    private static native long[] memoryStats();

    private static native void resetPeakMemory();

    private static native void emptyCache();

    /** Waits for the GPU (no-op without the library). */
    public static void sync() {
        if (AVAILABLE) {
            synchronize();
        }
    }

    /** {allocated, peak allocated, reserved, peak reserved} bytes of PyTorch's CUDA allocator, or null. */
    public static long[] cudaMemory() {
        return AVAILABLE ? memoryStats() : null;
    }

    /** Resets the peak figures of {@link #cudaMemory()}. */
    public static void resetPeak() {
        if (AVAILABLE) {
            resetPeakMemory();
        }
    }

    /** Returns cached, unused GPU memory to the driver. */
    public static void releaseCache() {
        if (AVAILABLE) {
            emptyCache();
        }
    }
}
