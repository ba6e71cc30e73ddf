package org.diffusionbot.worker.engine.models;

import java.nio.file.Path;
import java.util.List;
import org.diffusionbot.worker.engine.loaders.ConfigJson;

/**
 * Configuration of an {@code AutoencoderKL} ({@code vae/config.json}) with diffusers' defaults.
 *
 * @param inChannels image channels
 * @param outChannels image channels of the decoder output
 * @param blockOutChannels channels of each resolution level
 * @param layersPerBlock resnets per encoder block (decoder blocks have one more)
 * @param latentChannels latent channels
 * @param normNumGroups GroupNorm groups
 * @param scalingFactor latents are multiplied by this after encoding and divided before decoding
 * @param useQuantConv whether quant_conv exists
 * @param usePostQuantConv whether post_quant_conv exists
 * @param midBlockAddAttention whether the mid blocks have an attention layer
 * @param forceUpcast diffusers' {@code force_upcast} (default true): the SDXL pipelines decode in
 *     float32 when the model runs in float16 (SDXL's original VAE overflows in float16); false for an
 *     fp16-safe VAE. The SD 1.x/2.x pipelines ignore it, as diffusers' do.
 */
public record VaeConfig(
        int inChannels,
        int outChannels,
        List<Integer> blockOutChannels,
        int layersPerBlock,
        int latentChannels,
        int normNumGroups,
        double scalingFactor,
        boolean useQuantConv,
        boolean usePostQuantConv,
        boolean midBlockAddAttention,
        boolean forceUpcast) {

    /** Copies the list. */
    public VaeConfig {
        blockOutChannels = List.copyOf(blockOutChannels);
    }

    /**
     * @param source name used in error messages
     * @param json contents of {@code config.json}
     * @return the config
     */
    public static VaeConfig parse(String source, String json) {
        ConfigJson c = ConfigJson.parse(source, json);
        List<Integer> blocks = c.intsOrInt("block_out_channels", List.of(64), -1);
        List<String> down = c.strings("down_block_types", java.util.Collections.nCopies(blocks.size(), "DownEncoderBlock2D"));
        List<String> up = c.strings("up_block_types", java.util.Collections.nCopies(blocks.size(), "UpDecoderBlock2D"));
        if (down.size() != blocks.size() || up.size() != blocks.size()) {
            throw c.unsupported("down_block_types/up_block_types must have one entry per block_out_channels");
        }
        for (String t : down) {
            if (!t.equals("DownEncoderBlock2D")) {
                throw c.unsupported("down block type " + t);
            }
        }
        for (String t : up) {
            if (!t.equals("UpDecoderBlock2D")) {
                throw c.unsupported("up block type " + t);
            }
        }
        if (!c.string("act_fn", "silu").equals("silu")) {
            throw c.unsupported("act_fn " + c.string("act_fn", ""));
        }
        if (!c.isNull("shift_factor") && c.number("shift_factor", 0) != 0) {
            throw c.unsupported("shift_factor");
        }
        return new VaeConfig(
                c.integer("in_channels", 3),
                c.integer("out_channels", 3),
                blocks,
                c.integer("layers_per_block", 1),
                c.integer("latent_channels", 4),
                c.integer("norm_num_groups", 32),
                c.number("scaling_factor", 0.18215),
                c.bool("use_quant_conv", true),
                c.bool("use_post_quant_conv", true),
                c.bool("mid_block_add_attention", true),
                c.bool("force_upcast", true));
    }

    /**
     * @param file a {@code config.json}
     * @return the config
     */
    public static VaeConfig load(Path file) {
        return parse(file.toString(), ConfigJson.text(file));
    }
}
