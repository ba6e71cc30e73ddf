package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.clip;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BinaryOperator;
import java.util.function.Consumer;
import org.diffusionbot.worker.engine.io.Weights;
import org.diffusionbot.worker.engine.cuda.NativeOps;

/**
 * The Stable Diffusion VAE (diffusers {@code AutoencoderKL}): an encoder from images in [-1, 1] to
 * the mean and standard deviation of the latent distribution, and a decoder from latents back to
 * images in [-1, 1]. Scaling by {@link VaeConfig#scalingFactor()} is the caller's job, as in
 * diffusers.
 */
public final class AutoencoderKL {
    private final NamedParameters parameters;
    /**
     * Mean and standard deviation of the latent distribution (before scaling).
     *
     * @param mean (B, latent_channels, h, w)
     * @param std (B, latent_channels, h, w)
     */
    public record LatentDistribution(NDArray mean, NDArray std) {}

    private final VaeConfig config;
    private final DataType dtype;
    // encoder
    private final Conv2dLayer encConvIn;
    private final List<List<ResnetBlock2D>> encResnets = new ArrayList<>();
    private final List<Downsample2D> encDown = new ArrayList<>();
    private final VaeMidBlock encMid;
    private final GroupNormLayer encNormOut;
    private final Conv2dLayer encConvOut;
    private final Conv2dLayer quantConv;
    // decoder
    private final Conv2dLayer postQuantConv;
    private final Conv2dLayer decConvIn;
    private final VaeMidBlock decMid;
    private final List<List<ResnetBlock2D>> decResnets = new ArrayList<>();
    private final List<Upsample2D> decUp = new ArrayList<>();
    private final GroupNormLayer decNormOut;
    private final Conv2dLayer decConvOut;

    /**
     * Builds the VAE from weights in NCHW layout; call {@link Weights#verify()} afterwards (the loader does).
     *
     * @param config the configuration
     * @param weights tensors with diffusers VAE names
     * @param manager long-lived owner of the parameters
     * @param dtype parameter and compute type
     * @param device parameter and compute device
     */
    public AutoencoderKL(VaeConfig config, Weights weights, NDManager manager, DataType dtype, Device device) {
        this(config, weights, manager, dtype, device, false);
    }

    /**
     * Builds the VAE from weights with a given layout; call {@link Weights#verify()} afterwards (the loader does).
     *
     * @param config the configuration
     * @param weights tensors with diffusers VAE names
     * @param manager long-lived owner of the parameters
     * @param dtype parameter and compute type
     * @param device parameter and compute device
     * @param channelsLast whether convolution weights (and so activations) are channels-last (the loaders take it
     *     from {@code PipelineOptions#channelsLastFor}); false: NCHW, as the other constructor builds it
     * @throws IllegalArgumentException for channels-last off CUDA or without the native library
     */
    public AutoencoderKL(VaeConfig config, Weights weights, NDManager manager, DataType dtype, Device device,
            boolean channelsLast) {
        this(config, new Params(weights, manager, dtype, device, channelsLast));
    }

    AutoencoderKL(VaeConfig c, Params p) {
        this.config = c;
        this.dtype = p.dtype();
        List<Integer> ch = c.blockOutChannels();
        int n = ch.size();
        int g = c.normNumGroups();
        int lat = c.latentChannels();
        int top = ch.get(n - 1);

        encConvIn = new Conv2dLayer(p, "encoder.conv_in", c.inChannels(), ch.get(0), 3);
        int out = ch.get(0);
        for (int i = 0; i < n; i++) {
            int in = out;
            out = ch.get(i);
            List<ResnetBlock2D> rs = new ArrayList<>();
            for (int j = 0; j < c.layersPerBlock(); j++) {
                rs.add(new ResnetBlock2D(p, "encoder.down_blocks." + i + ".resnets." + j, j == 0 ? in : out, out, 0, g, 1e-6, 1.0));
            }
            encResnets.add(rs);
            encDown.add(i < n - 1 ? new Downsample2D(p, "encoder.down_blocks." + i + ".downsamplers.0", out, 0) : null);
        }
        encMid = new VaeMidBlock(p, "encoder.mid_block", top, g, c.midBlockAddAttention());
        encNormOut = new GroupNormLayer(p, "encoder.conv_norm_out", top, g, 1e-6);
        encConvOut = new Conv2dLayer(p, "encoder.conv_out", top, 2 * lat, 3);
        quantConv = c.useQuantConv() ? new Conv2dLayer(p, "quant_conv", 2 * lat, 2 * lat, 1) : null;

        postQuantConv = c.usePostQuantConv() ? new Conv2dLayer(p, "post_quant_conv", lat, lat, 1) : null;
        decConvIn = new Conv2dLayer(p, "decoder.conv_in", lat, top, 3);
        decMid = new VaeMidBlock(p, "decoder.mid_block", top, g, c.midBlockAddAttention());
        out = top;
        for (int i = 0; i < n; i++) {
            int prev = out;
            out = ch.get(n - 1 - i);
            List<ResnetBlock2D> rs = new ArrayList<>();
            for (int j = 0; j < c.layersPerBlock() + 1; j++) {
                rs.add(new ResnetBlock2D(p, "decoder.up_blocks." + i + ".resnets." + j, j == 0 ? prev : out, out, 0, g, 1e-6, 1.0));
            }
            decResnets.add(rs);
            decUp.add(i < n - 1 ? new Upsample2D(p, "decoder.up_blocks." + i + ".upsamplers.0", out) : null);
        }
        decNormOut = new GroupNormLayer(p, "decoder.conv_norm_out", ch.get(0), g, 1e-6);
        decConvOut = new Conv2dLayer(p, "decoder.conv_out", ch.get(0), c.outChannels(), 3);
        this.parameters = p.named();
    }

    /** @return the configuration */
    public VaeConfig config() {
        return config;
    }

    /** @return the parameter and compute type (inputs are expected in it) */
    public DataType dtype() {
        return dtype;
    }

    /**
     * The type an SDXL pipeline runs this VAE in for a model of type {@code modelType}, as diffusers'
     * {@code StableDiffusionXLPipeline} decides {@code needs_upcasting}: float32 when the model is
     * float16 and the config says {@code force_upcast} (SDXL's original VAE overflows in float16),
     * else the model's type.
     */
    public static DataType sdxlDtype(VaeConfig config, DataType modelType) {
        return modelType == DataType.FLOAT16 && config.forceUpcast() ? DataType.FLOAT32 : modelType;
    }

    /**
     * Decodes latents (already divided by the scaling factor) to an image. Each block's input is freed once the
     * block has run: the up-blocks' outputs (up to 256 channels at full size) are the decode's memory, and kept to
     * the end they made the peak of SDXL's float32 1024x1024 decode about 7.7 GiB instead of about 4 (estimates from
     * the activations' sizes; SD 1.5's float16 512x512 decode: about 1 GiB instead of 0.5).
     *
     * @param caller owner of the result
     * @param latents (B, latent_channels, h, w); not freed
     * @return (B, out_channels, 8h, 8w) in [-1, 1] (not clamped)
     */
    public NDArray decode(NDManager caller, NDArray latents) {
        return Ops.scoped(caller, sub -> {
            NDArray x = postQuantConv == null ? latents : postQuantConv.forward(latents);
            x = next(x, decConvIn.forward(x), latents);
            x = next(x, decMid.forward(x), latents);
            for (int i = 0; i < decResnets.size(); i++) {
                for (ResnetBlock2D r : decResnets.get(i)) {
                    x = next(x, r.forward(x, null), latents);
                }
                if (decUp.get(i) != null) {
                    x = next(x, decUp.get(i).forward(x, 2 * x.getShape().get(2), 2 * x.getShape().get(3)), latents);
                }
            }
            return NativeOps.rowMajor(decConvOut.forward(decNormOut.forwardSilu(x)));
        }, latents);
    }

    /** {@code out}, with {@code in} (a block's input) freed unless it is the caller's {@code keep} or {@code out}. */
    private static NDArray next(NDArray in, NDArray out, NDArray keep) {
        if (in != keep && in != out) {
            in.close();
        }
        return out;
    }

    /**
     * Encodes an image to its latent distribution. Each block's input is freed once the block has run (as in {@link
     * #decode}): the down-blocks' outputs at full and half size (128 and 256 channels) and the zero-padded copies the
     * downsamplers convolve are the encode's memory, and kept to the end they made the peak of SDXL's float32
     * 1024x1024 encode about 3.5 GiB instead of about 2.5 (estimates from the activations' sizes; SD 1.5's float16
     * 512x512 encode: about 0.45 GiB instead of 0.3).
     *
     * @param caller owner of the results
     * @param image (B, in_channels, H, W) in [-1, 1], H and W multiples of 8; not freed
     * @return mean and std (logvar clamped to [-30, 20] as diffusers does), not yet scaled
     */
    public LatentDistribution encode(NDManager caller, NDArray image) {
        return encode(caller, image, x -> { });
    }

    /** {@link #encode(NDManager, NDArray)}, handing {@code blockDone} each block's output once its input is freed. */
    LatentDistribution encode(NDManager caller, NDArray image, Consumer<NDArray> blockDone) {
        NDArray packed = Ops.scoped(caller, sub -> {
            BinaryOperator<NDArray> step = (in, out) -> {
                NDArray y = next(in, out, image);
                blockDone.accept(y);
                return y;
            };
            NDArray x = step.apply(image, encConvIn.forward(image));
            for (int i = 0; i < encResnets.size(); i++) {
                for (ResnetBlock2D r : encResnets.get(i)) {
                    x = step.apply(x, r.forward(x, null));
                }
                if (encDown.get(i) != null) {
                    x = step.apply(x, encDown.get(i).forward(x));
                }
            }
            x = step.apply(x, encMid.forward(x));
            x = encConvOut.forward(encNormOut.forwardSilu(x));
            NDArray moments = NativeOps.rowMajor(quantConv == null ? x : quantConv.forward(x));
            NDList parts = moments.split(2, 1);
            NDArray std = mul(clip(parts.get(1), -30f, 20f), 0.5f).exp();
            return parts.get(0).concat(std, 0); // (2B, L, h, w): one result for the scope
        }, image);
        try (NDManager sub = caller.newSubManager()) {
            sub.tempAttachAll(packed);
            NDList halves = packed.split(2, 0);
            NDArray mean = halves.get(0).duplicate();
            NDArray std = halves.get(1).duplicate();
            mean.attach(caller);
            std.attach(caller);
            return new LatentDistribution(mean, std);
        } finally {
            packed.close();
        }
    }

    /** @return the parameters by diffusers name, for patches applied in place ({@link NamedParameters}) */
    public NamedParameters parameters() {
        return parameters;
    }
}
