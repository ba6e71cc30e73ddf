package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;
import static org.diffusionbot.worker.engine.Scalars.sub;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Stable Diffusion noise-prediction UNet (diffusers {@code UNet2DConditionModel}, diffusers
 * tensor names): sinusoidal time embedding, down blocks of ResnetBlock2D (+ Transformer2DModel) with
 * downsampling, a cross-attention mid block, up blocks consuming the skip connections, GroupNorm,
 * SiLU and conv_out. SDXL's {@code addition_embed_type="text_time"}: the pooled text embedding and
 * the sinusoidal embeddings of the added time ids go through {@code add_embedding} and are added to
 * the time embedding.
 */
public final class UNet2DConditionModel {
    private static final Logger LOG = LoggerFactory.getLogger(UNet2DConditionModel.class);
    private final NamedParameters parameters;
    private final UNetConfig config;
    private final DataType dtype;
    private final Conv2dLayer convIn;
    private final NDArray freqs;
    private final LinearLayer timeLinear1;
    private final LinearLayer timeLinear2;
    private final NDArray addTimeFreqs;
    private final LinearLayer addLinear1;
    private final LinearLayer addLinear2;
    private final List<Level> down = new ArrayList<>();
    private final ResnetBlock2D midResnet0;
    private final Transformer2D midAttention;
    private final ResnetBlock2D midResnet1;
    private final List<Level> up = new ArrayList<>();
    private final GroupNormLayer normOut;
    private final Conv2dLayer convOut;
    /**
     * The time_emb_proj weights (N_i, temb) and biases (N_i) of every ResNet block, in the order {@link #run} visits
     * the blocks (down, mid, up): {@link NativeOps#timeProjections(NDArray, NDArray[], NDArray[])} projects the time
     * embedding for all of them in one call. The layers' own arrays (LoRA patches in place apply), no copies.
     */
    private final NDArray[] timeWeights;
    private final NDArray[] timeBiases;
    /** Every Transformer2D, in construction order (their blocks' FP8 companions), also the order {@link #run}'s. */
    private final List<Transformer2D> transformers = new ArrayList<>();
    /**
     * Every transformer block's cross-attention (attn2), in the order {@link #run} calls them (the transformers' order,
     * then their blocks'): SD 1.5 16, SDXL 70. Their k|v products of the context make up a prompt K|V ({@link
     * #withPromptKv}).
     */
    private final List<Attention> crossAttentions = new ArrayList<>();
    /** How many cross-attentions each of {@link #transformers} has (its blocks). */
    private final int[] crossPerTransformer;
    private final NDManager manager;
    private final Device device;
    /** The FP8 companions made so far ({@link #prepareFp8Linears}). */
    private final List<Fp8Linear> fp8 = new ArrayList<>();
    /** Every ResNet block, in the order {@link #run} visits them (down, mid, up). */
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    /** The ResNet blocks' FP8 convolution companions made so far ({@link #prepareFp8Convs}). */
    private final List<Fp8Conv> fp8Convs = new ArrayList<>();
    /** Whether the fp16 weights changed since the FP8 companions were last computed ({@link #markFp8Stale}). */
    private volatile boolean fp8Stale;

    /** One down or up block: resnets, optional transformers, optional resampler. */
    private static final class Level {
        final List<ResnetBlock2D> resnets = new ArrayList<>();
        final List<Transformer2D> attentions = new ArrayList<>();
        Downsample2D downsampler;
        Upsample2D upsampler;
    }

    /**
     * Builds the UNet from weights in NCHW layout; call {@link Weights#verify()} afterwards (the loader does).
     *
     * @param config the configuration
     * @param weights tensors with diffusers UNet names
     * @param manager long-lived owner of the parameters
     * @param dtype parameter and compute type
     * @param device parameter and compute device
     */
    public UNet2DConditionModel(UNetConfig config, Weights weights, NDManager manager, DataType dtype, Device device) {
        this(config, weights, manager, dtype, device, false);
    }

    /**
     * Builds the UNet from weights with a given layout; call {@link Weights#verify()} afterwards (the loader does).
     *
     * @param config the configuration
     * @param weights tensors with diffusers UNet names
     * @param manager long-lived owner of the parameters
     * @param dtype parameter and compute type
     * @param device parameter and compute device
     * @param channelsLast whether convolution weights (and so activations) are channels-last (the loaders take it
     *     from {@code PipelineOptions#channelsLastFor}); false: NCHW, as the other constructor builds it
     * @throws IllegalArgumentException for channels-last off CUDA or without the native library
     */
    public UNet2DConditionModel(UNetConfig config, Weights weights, NDManager manager, DataType dtype, Device device,
            boolean channelsLast) {
        this(config, new Params(weights, manager, dtype, device, channelsLast));
    }

    UNet2DConditionModel(UNetConfig c, Params p) {
        this.config = c;
        this.dtype = p.dtype();
        this.manager = p.manager();
        this.device = p.device();
        List<Integer> ch = c.blockOutChannels();
        int n = ch.size();
        int b0 = ch.get(0);
        int groups = c.normNumGroups();
        double eps = c.normEps();
        int ctx = c.crossAttentionDim();
        int temb = c.timeEmbeddingDim();
        convIn = new Conv2dLayer(p, "conv_in", c.inChannels(), b0, c.convInKernel());
        freqs = timestepFrequencies(p.manager(), b0 / 2, c.freqShift(), p.device());
        timeLinear1 = new LinearLayer(p, "time_embedding.linear_1", b0, temb, true);
        timeLinear2 = new LinearLayer(p, "time_embedding.linear_2", temb, temb, true);
        if (c.hasTextTime()) {
            addTimeFreqs = timestepFrequencies(p.manager(), c.additionTimeEmbedDim() / 2, c.freqShift(), p.device());
            addLinear1 = new LinearLayer(p, "add_embedding.linear_1", c.projectionClassEmbeddingsInputDim(), temb, true);
            addLinear2 = new LinearLayer(p, "add_embedding.linear_2", temb, temb, true);
        } else {
            addTimeFreqs = null;
            addLinear1 = null;
            addLinear2 = null;
        }

        int out = b0;
        for (int i = 0; i < n; i++) {
            int in = out;
            out = ch.get(i);
            Level lv = new Level();
            String pre = "down_blocks." + i;
            boolean attn = c.downBlockTypes().get(i).equals("CrossAttnDownBlock2D");
            for (int j = 0; j < c.layersPerBlock(); j++) {
                lv.resnets.add(new ResnetBlock2D(p, pre + ".resnets." + j, j == 0 ? in : out, out, temb, groups, eps, 1.0));
                if (attn) {
                    lv.attentions.add(new Transformer2D(p, pre + ".attentions." + j, out, c.numAttentionHeads().get(i),
                            c.transformerLayersPerBlock().get(i), ctx, groups, c.useLinearProjection(), c.upcastAttention()));
                }
            }
            if (i < n - 1) {
                lv.downsampler = new Downsample2D(p, pre + ".downsamplers.0", out, c.downsamplePadding());
            }
            down.add(lv);
        }

        int top = ch.get(n - 1);
        midResnet0 = new ResnetBlock2D(p, "mid_block.resnets.0", top, top, temb, groups, eps, c.midBlockScaleFactor());
        midAttention = new Transformer2D(p, "mid_block.attentions.0", top, c.numAttentionHeads().get(n - 1),
                c.transformerLayersPerBlock().get(n - 1), ctx, groups, c.useLinearProjection(), c.upcastAttention());
        midResnet1 = new ResnetBlock2D(p, "mid_block.resnets.1", top, top, temb, groups, eps, c.midBlockScaleFactor());

        out = ch.get(n - 1);
        for (int i = 0; i < n; i++) {
            int r = n - 1 - i; // index into the forward-order lists
            int prevOut = out;
            out = ch.get(r);
            int in = ch.get(Math.max(r - 1, 0));
            Level lv = new Level();
            String pre = "up_blocks." + i;
            boolean attn = c.upBlockTypes().get(i).equals("CrossAttnUpBlock2D");
            int layers = c.layersPerBlock() + 1;
            for (int j = 0; j < layers; j++) {
                int skip = j == layers - 1 ? in : out;
                int resIn = j == 0 ? prevOut : out;
                lv.resnets.add(new ResnetBlock2D(p, pre + ".resnets." + j, resIn + skip, out, temb, groups, eps, 1.0));
                if (attn) {
                    lv.attentions.add(new Transformer2D(p, pre + ".attentions." + j, out, c.numAttentionHeads().get(r),
                            c.transformerLayersPerBlock().get(r), ctx, groups, c.useLinearProjection(), c.upcastAttention()));
                }
            }
            if (i < n - 1) {
                lv.upsampler = new Upsample2D(p, pre + ".upsamplers.0", out);
            }
            up.add(lv);
        }
        normOut = new GroupNormLayer(p, "conv_norm_out", b0, groups, eps);
        convOut = new Conv2dLayer(p, "conv_out", b0, c.outChannels(), c.convOutKernel());
        this.parameters = p.named();
        down.forEach(lv -> resnets.addAll(lv.resnets));
        resnets.add(midResnet0);
        resnets.add(midResnet1);
        up.forEach(lv -> resnets.addAll(lv.resnets));
        timeWeights = resnets.stream().map(r -> r.timeProj().weight).toArray(NDArray[]::new);
        timeBiases = resnets.stream().map(r -> r.timeProj().bias).toArray(NDArray[]::new);
        down.forEach(lv -> transformers.addAll(lv.attentions));
        transformers.add(midAttention);
        up.forEach(lv -> transformers.addAll(lv.attentions));
        crossPerTransformer = new int[transformers.size()];
        for (int i = 0; i < crossPerTransformer.length; i++) {
            int before = crossAttentions.size();
            transformers.get(i).crossAttentions(crossAttentions);
            crossPerTransformer[i] = crossAttentions.size() - before;
        }
        prepareFp8Linears(); // where FP8 linears are on and apply; nothing otherwise
        prepareFp8Convs(); // where FP8 convolutions are on and apply (Hopper); nothing otherwise
    }

    /**
     * Makes the FP8 companions of the ResNet blocks' 3x3 convolutions ({@link Fp8Conv}: conv1 and conv2 of each block)
     * where they apply: an fp16 model on CUDA, FP8 convolutions on ({@link NativeOps#fp8Conv()}: native ops, {@code
     * SD_FP8_CONV} not 0 or {@link NativeOps#FP8_CONV} set on, compute capability 9.0 and a library built for sm_90a) and
     * the kernel takes the channels (SD 1.5's: all of them), with channels-last weights ({@code SD_CHANNELS_LAST} not 0).
     * The constructor calls it; a benchmark that turns the switch on later calls it again (then clear captured CUDA
     * graphs). Blocks keep the companions they have. The companions' memory is logged (SD 1.5: ~0.47 GiB, SDXL: ~0.28
     * GiB). Making them never fails the model: where it throws (e.g. out of memory) a warning is logged, the blocks
     * without both companions run fp16, and the return value says what exists ({@code StableDiffusionPipeline.setFp8}
     * reports it).
     *
     * @return whether the UNet has FP8 convolution companions now (its blocks use them while FP8 convolutions are on)
     */
    public synchronized boolean prepareFp8Convs() {
        int before = fp8Convs.size();
        try {
            for (ResnetBlock2D r : resnets) {
                fp8Convs.addAll(r.prepareFp8(manager, dtype, device));
            }
        } catch (RuntimeException e) {
            LOG.warn("FP8 convolutions: making the ResNet blocks' FP8 weights failed ({}); the blocks without them run"
                    + " fp16", e.toString());
        }
        if (fp8Convs.size() > before) {
            long bytes = fp8Convs.stream().mapToLong(Fp8Conv::bytes).sum();
            LOG.info("FP8 convolutions: on ({} ResNet blocks, {} MiB of FP8 weights)", fp8Convs.size() / 2,
                    String.format(java.util.Locale.ROOT, "%.1f", bytes / (1024.0 * 1024.0)));
        }
        return !fp8Convs.isEmpty();
    }

    /**
     * Makes the FP8 companions of the transformer blocks' linears after a LayerNorm ({@link Fp8Linear}: attn1's q|k|v,
     * attn2's q, ff.net.0.proj) where they apply: an fp16 model on CUDA, C a multiple of 16, FP8 linears on ({@link
     * NativeOps#fp8Linears()}: native ops, {@code SD_FP8_LINEARS} not 0 or {@link NativeOps#FP8_LINEARS} set on, compute
     * capability 8.9+); and of their ff.net.2 where {@link NativeOps#fp8FfOut()} ({@code SD_FP8_FF_OUT} not 0 or {@link
     * NativeOps#FP8_FF_OUT} set on) too. The constructor calls it; a benchmark that turns either on later calls it again
     * (then clear captured CUDA graphs). Blocks keep the companions they have; nothing runs where none apply.
     *
     * @return whether the UNet has FP8 companions now (its blocks use them while FP8 linears are on)
     */
    public synchronized boolean prepareFp8Linears() {
        for (Transformer2D t : transformers) {
            fp8.addAll(t.prepareFp8(manager, dtype, device));
        }
        return !fp8.isEmpty();
    }

    /**
     * Recomputes every FP8 companion in place from the fp16 weights and norms as they are now (on the device, no sync):
     * the linears' and the ResNet blocks' convolutions' ({@link #prepareFp8Convs}). Nothing without companions.
     */
    public synchronized void refreshFp8() {
        for (Fp8Linear f : fp8) {
            f.refresh();
        }
        if (!fp8Convs.isEmpty()) {
            for (ResnetBlock2D r : resnets) {
                r.refreshFp8(); // conv1's and conv2's companions, where the block has them
            }
        }
    }

    /**
     * Notes that the fp16 weights changed (a LoRA patch or restore; {@link StableDiffusionModels#patchable()} calls it
     * after each): the next UNet call recomputes the FP8 companions once ({@link #refreshFp8IfStale}), however many
     * patches and restores came before it. A LoRA switch is a restore and a patch, so recomputing at each would do it
     * twice per switch (and a third time for a set taken off before the next one), ~280 companions each for SDXL.
     */
    public synchronized void markFp8Stale() {
        fp8Stale = true;
    }

    /**
     * {@link #refreshFp8} if the weights changed since the companions were computed ({@link #markFp8Stale}).
     * Every UNet call runs it first ({@link #forward(NDManager, NDArray, NDArray, Conditioning)}, and {@code
     * CudaGraphUNet.forward} before a graph is replayed or captured, so a capture never records it).
     *
     * @return whether it recomputed them
     */
    public synchronized boolean refreshFp8IfStale() {
        if (!fp8Stale) {
            return false;
        }
        fp8Stale = false;
        try {
            refreshFp8();
        } catch (RuntimeException e) {
            fp8Stale = true; // a refresh that throws leaves them stale
            throw e;
        }
        return true;
    }

    /** exp(-ln(10000) * i / (half - shift)), computed in float32 by PyTorch as diffusers does. */
    private static NDArray timestepFrequencies(NDManager m, int half, int shift, Device device) {
        try (NDManager tmp = m.newSubManager(device)) {
            NDArray f = div(mul(tmp.arange(0, half, 1, DataType.FLOAT32, device), (float) -Math.log(10000)),
                    (float) (half - shift)).exp();
            f.attach(m);
            return f.reshape(1, half);
        }
    }

    /** @return the configuration */
    public UNetConfig config() {
        return config;
    }

    /**
     * Predicts the noise from the context alone (SD 1.x/2.x).
     *
     * @param caller owner of the result
     * @param sample latents (B, in_channels, h, w)
     * @param timestep (B) or (1) or scalar, any numeric type
     * @param context text embeddings (B, 77, cross_attention_dim)
     * @return (B, out_channels, h, w) in the model's dtype, attached to {@code caller}
     */
    public NDArray forward(NDManager caller, NDArray sample, NDArray timestep, NDArray context) {
        return forward(caller, sample, timestep, Conditioning.of(context));
    }

    /**
     * Predicts the noise (diffusers' {@code UNet2DConditionModel.forward} with {@code
     * encoder_hidden_states} and, for SDXL, {@code added_cond_kwargs}).
     *
     * @param caller owner of the result
     * @param sample latents (B, in_channels, h, w)
     * @param timestep (B) or (1) or scalar, any numeric type
     * @param cond the context (B, 77·k, cross_attention_dim), with SDXL's pooled embedding and time ids, and the prompt
     *     K|V of that context ({@link #withPromptKv}) or none: the cross-attentions read their k|v from it instead of
     *     projecting the context (the same values: the same products, made before)
     * @return (B, out_channels, h, w) in the model's dtype, attached to {@code caller}
     * @throws IllegalArgumentException when the added conditioning is missing for a text_time UNet or
     *     given to another, or for a prompt K|V that is not this UNet's for a context of this shape
     */
    public NDArray forward(NDManager caller, NDArray sample, NDArray timestep, Conditioning cond) {
        refreshFp8IfStale();
        if (config.hasTextTime() != cond.hasAdded()) {
            throw new IllegalArgumentException(config.hasTextTime()
                    ? "this UNet (addition_embed_type text_time) needs text_embeds and time_ids"
                    : "this UNet takes no added conditioning");
        }
        NDArray kv = cond.promptKv();
        if (kv != null) {
            checkPromptKv(cond.context(), kv);
        }
        return Ops.scoped(caller, sub -> run(sample, timestep, cond.context(), cond.textEmbeds(), cond.timeIds(), kv),
                sample, timestep, cond.context(), cond.textEmbeds(), cond.timeIds(), kv);
    }

    /** Where each layer's k|v starts in a prompt K|V: a multiple of this many elements (512 bytes in fp16). */
    static final long PROMPT_KV_ALIGN = 256;

    /**
     * The layout of a prompt K|V ({@link #withPromptKv}) of a (B, M, ·) context: element offsets of each
     * cross-attention's (B, M, 2C_i) k|v in {@link #crossAttentions}' order, each rounded up to {@link
     * #PROMPT_KV_ALIGN} (so every layer's k|v starts 512-byte aligned in fp16, as a new allocation of its own would:
     * the attention kernels see the operands they saw before), then the total length.
     */
    long[] promptKvLayout(long b, long m) {
        long[] at = new long[crossAttentions.size() + 1];
        long end = 0;
        for (int i = 0; i < crossAttentions.size(); i++) {
            at[i] = (end + PROMPT_KV_ALIGN - 1) / PROMPT_KV_ALIGN * PROMPT_KV_ALIGN;
            end = at[i] + b * m * crossAttentions.get(i).kvWidth();
        }
        at[at.length - 1] = end;
        return at;
    }

    /** @return how many cross-attentions (transformer blocks) the UNet has: SD 1.5 16, SDXL 70 (tests) */
    int crossAttentionCount() {
        return crossAttentions.size();
    }

    /** @return the cross-attentions in the order a prompt K|V holds their k|v (tests) */
    List<Attention> crossAttentions() {
        return List.copyOf(crossAttentions);
    }

    /**
     * The conditioning with its prompt K|V: every cross-attention's k|v projection of the context (attn2's {@code
     * to_k} and {@code to_v}: {@code context·[W_k|W_v]ᵀ}, the same product, kernel and rounding as a UNet call makes
     * without it: {@link Attention#projectKv}), made once, here, and read by every later UNet call with this
     * conditioning ({@link #forward(NDManager, NDArray, NDArray, Conditioning)}) instead of projecting the context at
     * each call: one product per cross-attention per denoising loop instead of per step (SD 1.5 16, SDXL 70 per UNet
     * call). One 1-d array in the model's dtype: layer i's (B, M, 2C_i) k|v, contiguous, at {@link #promptKvLayout}'s
     * offset i (512-byte aligned; the gaps are zeros), so that a CUDA graph has one input more, not 70. SD 1.5 at B =
     * 2, M = 77: 24,960 columns, 7.7 MB; SDXL: 166,400 columns, 51 MB (and as much again in a CUDA graph's static
     * copy).
     *
     * <p>It holds the weights as they are now: a LoRA patch or restore after it leaves it stale, so it is made per
     * denoising loop (after the batch's patches) and never kept beyond it. With the library, one built before the k|v
     * functions gets the conditioning unchanged ({@link NativeOps#crossAttentionKvLinked()}: each call projects the
     * context).
     *
     * @param owner owner of the prompt K|V
     * @param cond the conditioning; one that has a prompt K|V is returned as it is
     * @return {@code cond} with its prompt K|V
     */
    public Conditioning withPromptKv(NDManager owner, Conditioning cond) {
        if (cond.promptKv() != null || crossAttentions.isEmpty()
                || (NativeOps.enabled() && !NativeOps.crossAttentionKvLinked())) {
            return cond;
        }
        NDArray ctx = cond.context();
        long b = ctx.getShape().get(0);
        long m = ctx.getShape().get(1);
        long[] at = promptKvLayout(b, m);
        NDArray kv = Ops.scoped(owner, sub -> {
            NDList parts = new NDList();
            long end = 0;
            for (int i = 0; i < crossAttentions.size(); i++) {
                if (at[i] > end) { // the gap up to the aligned start
                    parts.add(sub.zeros(new Shape(at[i] - end), dtype, ctx.getDevice()));
                }
                NDArray p = crossAttentions.get(i).projectKv(ctx); // (B, M, 2C_i), as the layer's call would make it
                parts.add(p.reshape(-1));
                end = at[i] + p.size();
            }
            return Ops.concat(parts, 0);
        }, ctx);
        return cond.withPromptKv(kv);
    }

    /** @throws IllegalArgumentException where kv is not a prompt K|V of a context of this shape for this UNet */
    private void checkPromptKv(NDArray context, NDArray kv) {
        long[] at = promptKvLayout(context.getShape().get(0), context.getShape().get(1));
        if (kv.getShape().dimension() != 1 || kv.size() != at[at.length - 1] || kv.getDataType() != dtype) {
            throw new IllegalArgumentException("a prompt K|V " + kv.getShape() + " " + kv.getDataType()
                    + " is not this UNet's for a context " + context.getShape() + " (" + at[at.length - 1] + " "
                    + dtype + " elements)");
        }
    }

    /**
     * Each transformer's blocks' k|v views of a prompt K|V ((B, M, 2C_i) each, no copies), by transformer; null
     * without one.
     */
    private NDArray[][] promptKvViews(NDArray kv, long b, long m) {
        if (kv == null) {
            return null;
        }
        long[] at = promptKvLayout(b, m);
        NDArray[][] views = new NDArray[transformers.size()][];
        int layer = 0;
        for (int t = 0; t < views.length; t++) {
            views[t] = new NDArray[crossPerTransformer[t]];
            for (int j = 0; j < views[t].length; j++, layer++) {
                long w = crossAttentions.get(layer).kvWidth();
                views[t][j] = kv.get(new NDIndex().addSliceDim(at[layer], at[layer] + b * m * w)).reshape(b, m, w);
            }
        }
        return views;
    }

    /** diffusers' {@code get_timestep_embedding} of (N) values with the given frequencies → (N, 2·half). */
    private NDArray sinusoidal(NDArray values, NDArray frequencies) {
        NDArray t = values.toType(DataType.FLOAT32, false).reshape(-1, 1).mul(frequencies);
        return config.flipSinToCos() ? t.cos().concat(t.sin(), 1) : t.sin().concat(t.cos(), 1);
    }

    private NDArray run(NDArray sample, NDArray timestep, NDArray context, NDArray textEmbeds, NDArray timeIds,
            NDArray promptKv) {
        NDArray[][] kv = promptKvViews(promptKv, context.getShape().get(0), context.getShape().get(1));
        int t = 0; // the next transformer's index in kv
        NDArray tEmb = sinusoidal(timestep, freqs).toType(dtype, false);
        NDArray emb = timeLinear2.forward(Ops.silu(timeLinear1.forward(tEmb)));
        if (addLinear1 != null) {
            long b = timeIds.getShape().get(0);
            NDArray timeEmbeds = sinusoidal(timeIds, addTimeFreqs).reshape(b, -1);
            NDArray add = textEmbeds.toType(DataType.FLOAT32, false).concat(timeEmbeds, 1).toType(dtype, false);
            emb = emb.add(addLinear2.forward(Ops.silu(addLinear1.forward(add))));
        }
        NDArray embAct = Ops.silu(emb);
        NDArray[] proj = timeProjections(embAct); // every ResNet block's time_emb_proj in one call, or null
        int r = 0; // the next ResNet block's index in proj

        NDArray x = config.centerInputSample() ? sub(mul(sample, 2), 1) : sample;
        x = convIn.forward(x);
        Deque<NDArray> skips = new ArrayDeque<>();
        skips.push(x);
        for (Level lv : down) {
            for (int j = 0; j < lv.resnets.size(); j++) {
                x = lv.resnets.get(j).forward(x, null, embAct, projection(proj, r++));
                if (!lv.attentions.isEmpty()) {
                    x = lv.attentions.get(j).forward(x, context, views(kv, t++));
                }
                skips.push(x);
            }
            if (lv.downsampler != null) {
                x = lv.downsampler.forward(x);
                skips.push(x);
            }
        }
        x = midResnet0.forward(x, null, embAct, projection(proj, r++));
        x = midAttention.forward(x, context, views(kv, t++));
        x = midResnet1.forward(x, null, embAct, projection(proj, r++));
        for (Level lv : up) {
            for (int j = 0; j < lv.resnets.size(); j++) {
                // diffusers: torch.cat([hidden_states, res_hidden_states], dim=1), then the ResNet block; with the
                // library its norm1 and conv_shortcut read the two parts in place (ResnetBlock2D: SD_UPBLOCK_NO_CAT)
                x = lv.resnets.get(j).forward(x, skips.pop(), embAct, projection(proj, r++));
                if (!lv.attentions.isEmpty()) {
                    x = lv.attentions.get(j).forward(x, context, views(kv, t++));
                }
            }
            if (lv.upsampler != null) {
                NDArray next = skips.peek();
                x = lv.upsampler.forward(x, next.getShape().get(2), next.getShape().get(3));
            }
        }
        return NativeOps.rowMajor(convOut.forward(normOut.forwardSilu(x)));
    }

    /**
     * Every ResNet block's time_emb_proj of SiLU(emb), (B, N_i) each in {@link #timeWeights}' order, from one native call
     * where {@link NativeOps#timeProjKernel()} holds and embAct is on the GPU ({@code SD_TIME_PROJ_KERNEL}: our kernel in
     * one launch where it applies, else the library's product per block); null otherwise: each block projects embAct
     * itself, as before.
     */
    private NDArray[] timeProjections(NDArray embAct) {
        if (!NativeOps.timeProjKernel() || !embAct.getDevice().isGpu()) {
            return null;
        }
        return NativeOps.timeProjections(embAct, timeWeights, timeBiases);
    }

    /** kv[t], or null without a prompt K|V. */
    private static NDArray[] views(NDArray[][] kv, int t) {
        return kv == null ? null : kv[t];
    }

    /** proj[i], or null without precomputed projections. */
    private static NDArray projection(NDArray[] proj, int i) {
        return proj == null ? null : proj[i];
    }


    /** @return the parameters by diffusers name, for patches applied in place ({@link NamedParameters}) */
    public NamedParameters parameters() {
        return parameters;
    }
}
