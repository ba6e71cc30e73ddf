package org.diffusionbot.worker.engine.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.diffusionbot.worker.engine.io.SafetensorsFile;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;
import org.diffusionbot.worker.engine.loaders.SingleFileCheckpoint;

/**
 * How LoRA tensor names map to model weights, for the naming schemes found in shared files:
 *
 * <ul>
 *   <li>kohya (sd-scripts, LyCORIS): {@code lora_unet_<module path, dots as _>}, {@code lora_te_…}
 *       (SD 1.x/2.x text encoder), {@code lora_te1_…}/{@code lora_te2_…} (SDXL's two), then
 *       {@code .lora_down.weight}, {@code .lora_up.weight}, {@code .lora_mid.weight}, {@code .alpha},
 *       or LoHa's {@code .hada_*} / LoKr's {@code .lokr_*}. The module path is the diffusers one, or
 *       for SDXL the original UNet's ({@code input_blocks_4_1_…}, {@code middle_block_1_…}, {@code
 *       output_blocks_0_1_…}), converted as {@link SingleFileCheckpoint#unetName} converts weights;
 *   <li>diffusers / PEFT: {@code unet.<module>.lora_A.weight} / {@code .lora_B.weight}, {@code
 *       text_encoder.…}, {@code text_encoder_2.…} (also the older {@code .lora.down.weight} / {@code
 *       .lora.up.weight}).
 * </ul>
 *
 * As in diffusers' {@code _convert_non_diffusers_lora_to_diffusers}, underscores are resolved by
 * looking the name up among the model's own modules (each written with {@code _} for {@code .}),
 * never by guessing.
 */
final class LoraKeys {
    /** A weight of the model. */
    record Target(Part part, String parameter) {}

    /** A tensor name cut into its module and its role in the module. */
    record Split(String module, String suffix) {}

    private static final List<String> SUFFIXES = List.of(
            "lora_down.weight", "lora_up.weight", "lora_mid.weight", "lora_A.weight", "lora_B.weight",
            "lora.down.weight", "lora.up.weight", "alpha", "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b",
            "hada_t1", "hada_t2", "lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2");
    private static final Map<Part, List<String>> KOHYA_PREFIXES = Map.of(
            Part.UNET, List.of("lora_unet_"),
            Part.TEXT_ENCODER, List.of("lora_te_", "lora_te1_"),
            Part.TEXT_ENCODER_2, List.of("lora_te2_"));
    private static final Pattern SGM_BLOCK = Pattern.compile("^(input_blocks|output_blocks)_(\\d+)_(\\d+)(?:_(.+))?$");
    private static final Pattern SGM_MIDDLE = Pattern.compile("^middle_block_(\\d+)_(.+)$");
    private static final Pattern SGM_OTHER = Pattern.compile("^(time_embed|label_emb_0|out)_(\\d+)$");
    private static final Pattern RESNET_LAYER = Pattern.compile("^(in_layers|out_layers|emb_layers)_(\\d+)(.*)$");
    private static final Pattern RESNETS_OF_FIRST_BLOCK = Pattern.compile("^down_blocks\\.0\\.resnets\\.(\\d+)\\..*");

    private final LoraTargets targets;
    private final Map<String, Target> kohya = new HashMap<>();
    private final int layersPerBlock;

    LoraKeys(LoraTargets targets) {
        this.targets = targets;
        Set<Integer> resnets = new TreeSet<>();
        targets.parameters().forEach((part, params) -> {
            for (String p : params.keySet()) {
                if (!p.endsWith(".weight")) {
                    continue;
                }
                String module = p.substring(0, p.length() - ".weight".length()).replace('.', '_');
                for (String prefix : KOHYA_PREFIXES.get(part)) {
                    kohya.put(prefix + module, new Target(part, p));
                }
                Matcher m = RESNETS_OF_FIRST_BLOCK.matcher(p);
                if (part == Part.UNET && m.matches()) {
                    resnets.add(Integer.parseInt(m.group(1)));
                }
            }
        });
        this.layersPerBlock = resnets.size();
    }

    /**
     * @param name a tensor name of a LoRA file
     * @return its module and suffix, or null if it follows no known scheme
     */
    static Split split(String name) {
        for (String s : SUFFIXES) {
            if (name.endsWith("." + s) && name.length() > s.length() + 1) {
                return new Split(name.substring(0, name.length() - s.length() - 1), s);
            }
        }
        int dot = name.indexOf('.');
        if (name.startsWith("lora_") && dot > 0) {
            return new Split(name.substring(0, dot), name.substring(dot + 1)); // unknown role: reported by delta()
        }
        return null;
    }

    /**
     * @param module a module name of a LoRA file ({@link Split#module()})
     * @return the weight it changes, or null if the model has none of that name
     */
    Target target(String module) {
        Target t = kohya.get(module);
        if (t != null) {
            return t;
        }
        for (Part part : Part.values()) {
            String prefix = part.component() + ".";
            String param = module.startsWith(prefix) ? module.substring(prefix.length()) + ".weight" : null;
            if (param != null && targets.of(part).containsKey(param)) {
                return new Target(part, param);
            }
        }
        if (module.startsWith("lora_unet_")) {
            String sgm = sgmName(module.substring("lora_unet_".length()));
            if (sgm != null) {
                String diffusers = SingleFileCheckpoint.unetName(sgm + ".weight", layersPerBlock);
                return kohya.get("lora_unet_" + diffusers.substring(0, diffusers.length() - ".weight".length()).replace('.', '_'));
            }
        }
        return null;
    }

    /**
     * The original UNet's dotted module name for a kohya SGM module ({@code input_blocks_4_1_transformer_blocks_0_attn1_to_q}
     * → {@code input_blocks.4.1.transformer_blocks_0_attn1_to_q}): only the block indices and the ResNet
     * layer indices need dots for {@link SingleFileCheckpoint#unetName}; the rest stays as it is.
     */
    private static String sgmName(String module) {
        Matcher m = SGM_BLOCK.matcher(module);
        if (m.matches()) {
            String rest = m.group(4);
            return m.group(1) + "." + m.group(2) + "." + m.group(3) + (rest == null ? "" : "." + resnetLayer(rest));
        }
        m = SGM_MIDDLE.matcher(module);
        if (m.matches()) {
            return "middle_block." + m.group(1) + "." + resnetLayer(m.group(2));
        }
        m = SGM_OTHER.matcher(module);
        if (m.matches()) {
            return m.group(1).replace("label_emb_0", "label_emb.0") + "." + m.group(2);
        }
        return null;
    }

    private static String resnetLayer(String rest) {
        Matcher m = RESNET_LAYER.matcher(rest);
        return m.matches() ? m.group(1) + "." + m.group(2) + m.group(3) : rest;
    }

    /**
     * The delta of one module from its tensors (suffix → tensor).
     *
     * @throws IllegalArgumentException naming the tensors when they form no supported kind
     */
    static LoraDelta delta(Map<String, TensorView> t) {
        Set<String> roles = new TreeSet<>(t.keySet());
        Float alpha = t.containsKey("alpha") ? scalar(t.get("alpha")) : null;
        roles.remove("alpha");
        TensorView up = first(t, "lora_up.weight", "lora_B.weight", "lora.up.weight");
        TensorView down = first(t, "lora_down.weight", "lora_A.weight", "lora.down.weight");
        if (up != null || down != null) {
            TensorView mid = t.get("lora_mid.weight");
            require(roles, up != null && down != null, mid == null ? 2 : 3);
            if (up.shape().get(1) != down.shape().get(0)) {
                throw new IllegalArgumentException("up " + up.shape() + " and down " + down.shape() + " differ in rank");
            }
            return new LoraDelta.LowRank(up, down, mid, alpha);
        }
        if (roles.stream().anyMatch(r -> r.startsWith("hada_"))) {
            boolean tucker = t.containsKey("hada_t1") || t.containsKey("hada_t2");
            require(roles, roles.containsAll(List.of("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"))
                    && (!tucker || (t.containsKey("hada_t1") && t.containsKey("hada_t2"))), tucker ? 6 : 4);
            return new LoraDelta.Hadamard(t.get("hada_w1_a"), t.get("hada_w1_b"), t.get("hada_t1"), t.get("hada_w2_a"),
                    t.get("hada_w2_b"), t.get("hada_t2"), alpha);
        }
        if (roles.stream().anyMatch(r -> r.startsWith("lokr_"))) {
            boolean w1 = t.containsKey("lokr_w1") != (t.containsKey("lokr_w1_a") && t.containsKey("lokr_w1_b"));
            boolean w2 = t.containsKey("lokr_w2") != (t.containsKey("lokr_w2_a") && t.containsKey("lokr_w2_b"));
            boolean t2 = !t.containsKey("lokr_t2") || t.containsKey("lokr_w2_a");
            require(roles, w1 && w2 && t2, roles.size());
            return new LoraDelta.Kronecker(t.get("lokr_w1"), t.get("lokr_w1_a"), t.get("lokr_w1_b"), t.get("lokr_w2"),
                    t.get("lokr_w2_a"), t.get("lokr_w2_b"), t.get("lokr_t2"), alpha);
        }
        throw new IllegalArgumentException("tensors " + roles + " are no LoRA/LoCon, LoHa or LoKr weights");
    }

    private static void require(Set<String> roles, boolean complete, int expectedRoles) {
        if (!complete || roles.size() != expectedRoles) {
            throw new IllegalArgumentException("incomplete or unexpected tensors " + roles);
        }
    }

    private static TensorView first(Map<String, TensorView> t, String... roles) {
        for (String r : roles) {
            if (t.containsKey(r)) {
                return t.get(r);
            }
        }
        return null;
    }

    private static float scalar(TensorView v) {
        if (v.shape().size() != 1) {
            throw new IllegalArgumentException("alpha has shape " + v.shape() + ", not a scalar");
        }
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            return v.toNDArray(m, DataType.FLOAT32, Device.cpu()).toFloatArray()[0];
        }
    }

    /**
     * The family a LoRA file is for: from kohya's or the model spec's metadata ({@code
     * ss_base_model_version}, {@code modelspec.architecture}, {@code ss_v2}), else from the names
     * ({@code lora_te1_}/{@code lora_te2_}/{@code text_encoder_2.} are SDXL's), else from the
     * width of the cross-attention key projection's input (768 SD 1.x, 1024 SD 2.x, 2048 SDXL).
     */
    static LoraFamily family(SafetensorsFile file) {
        Map<String, String> meta = file.metadata();
        String version = meta.getOrDefault("ss_base_model_version", meta.getOrDefault("modelspec.architecture", ""))
                .toLowerCase(Locale.ROOT);
        if (version.startsWith("sdxl") || version.startsWith("stable-diffusion-xl")) {
            return LoraFamily.SDXL;
        }
        if (version.startsWith("sd_v2") || version.startsWith("stable-diffusion-v2")
                || "true".equalsIgnoreCase(meta.get("ss_v2"))) {
            return LoraFamily.SD2;
        }
        if (version.startsWith("sd_v1") || version.startsWith("stable-diffusion-v1")) {
            return LoraFamily.SD1;
        }
        for (String name : file.tensors().keySet()) {
            if (name.startsWith("lora_te1_") || name.startsWith("lora_te2_") || name.startsWith("text_encoder_2.")) {
                return LoraFamily.SDXL;
            }
        }
        for (TensorView v : file.tensors().values()) {
            Split s = split(v.name());
            if (s != null && s.module().replace('.', '_').endsWith("attn2_to_k") && v.shape().dimension() == 2
                    && (s.suffix().equals("lora_down.weight") || s.suffix().equals("lora_A.weight"))) {
                long width = v.shape().get(1);
                return width == 768 ? LoraFamily.SD1 : width == 1024 ? LoraFamily.SD2 : width == 2048 ? LoraFamily.SDXL
                        : LoraFamily.UNKNOWN;
            }
        }
        return LoraFamily.UNKNOWN;
    }
}
