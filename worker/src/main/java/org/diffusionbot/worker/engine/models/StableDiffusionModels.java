package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.worker.engine.lora.LoraFamily;
import org.diffusionbot.worker.engine.lora.LoraTargets;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;
import org.diffusionbot.worker.engine.lora.PatchableModel;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;

/**
 * The networks of a Stable Diffusion pipeline (text encoder, UNet, VAE; SDXL: a second text encoder
 * with projection) with the manager that owns their parameters.
 * The models are stateless apart from their parameters and may be called repeatedly; close this to
 * free the parameters.
 */
public final class StableDiffusionModels implements AutoCloseable {
    private final NDManager manager;
    private final ClipTextEncoder textEncoder;
    private final ClipTextEncoder textEncoder2;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;

    /**
     * @param manager owner of all parameters (closed by {@link #close()})
     * @param textEncoder the text encoder
     * @param unet the UNet
     * @param vae the VAE
     */
    public StableDiffusionModels(NDManager manager, ClipTextEncoder textEncoder, UNet2DConditionModel unet, AutoencoderKL vae) {
        this(manager, textEncoder, null, unet, vae);
    }

    /**
     * @param manager owner of all parameters (closed by {@link #close()})
     * @param textEncoder the (first) text encoder
     * @param textEncoder2 SDXL's second text encoder (with projection), or null
     * @param unet the UNet
     * @param vae the VAE
     */
    public StableDiffusionModels(NDManager manager, ClipTextEncoder textEncoder, ClipTextEncoder textEncoder2,
            UNet2DConditionModel unet, AutoencoderKL vae) {
        this.manager = manager;
        this.textEncoder = textEncoder;
        this.textEncoder2 = textEncoder2;
        this.unet = unet;
        this.vae = vae;
    }

    /**
     * The weights of the UNet and the text encoder(s) as a LoRA patch addresses them: their {@link
     * NamedParameters}, changed in place and restored bit for bit (the arrays the layers and captured
     * CUDA graphs use stay the same).
     *
     * @return a view over the parameters; the family is the pipeline's rule (SDXL with a second text
     *     encoder, SD 2.x with an OpenCLIP (gelu) one, else SD 1.x). After every change of the UNet's weights
     *     ({@code add} or {@code addAll} of a UNet weight, {@code restore} after one) the UNet's FP8 companions are marked stale,
     *     even when the change throws midway, and its next call recomputes them in place once ({@link
     *     UNet2DConditionModel#markFp8Stale})
     */
    public PatchableModel patchable() {
        return patchable(unet::markFp8Stale);
    }

    /**
     * {@link #patchable()} with {@code unetChanged} run after every change that may touch the UNet's weights (the
     * seam tests count it through).
     */
    PatchableModel patchable(Runnable unetChanged) {
        Map<Part, NamedParameters> parts = new EnumMap<>(Part.class);
        parts.put(Part.UNET, unet.parameters());
        parts.put(Part.TEXT_ENCODER, textEncoder.parameters());
        if (textEncoder2 != null) {
            parts.put(Part.TEXT_ENCODER_2, textEncoder2.parameters());
        }
        ModelFamily family = StableDiffusionPipeline.family(textEncoder2 != null, textEncoder.config().hiddenAct());
        Map<Part, Map<String, Shape>> shapes = new EnumMap<>(Part.class);
        parts.forEach((part, p) -> shapes.put(part, p.shapes()));
        LoraTargets targets = new LoraTargets(LoraFamily.valueOf(family.name()), shapes);
        return new PatchableModel() {
            /** Whether a UNet weight was changed (or a change of one attempted) since the last restore. */
            private boolean unetPatched;

            @Override
            public LoraTargets targets() {
                return targets;
            }

            private Parameter parameter(Part part, String name) {
                NamedParameters p = parts.get(part);
                Parameter w = p == null ? null : p.get(name);
                if (w == null) {
                    throw new IllegalArgumentException("the model has no " + part.component() + " weight " + name);
                }
                return w;
            }

            @Override
            public void add(Part part, String name, NDArray delta) {
                try {
                    parameter(part, name).add(delta);
                } finally {
                    if (part == Part.UNET) {
                        unetPatched = true;
                        unetChanged.run();
                    }
                }
            }

            @Override
            public void addAll(List<Change> changes) {
                List<Parameter> params = new ArrayList<>(changes.size());
                List<List<Term>> terms = new ArrayList<>(changes.size());
                for (Change c : changes) {
                    Parameter w = parameter(c.part(), c.name());
                    for (Term t : c.terms()) {
                        if (!fits(t, w.shape())) {
                            throw new IllegalArgumentException(c.name() + ": a change of " + t.up().getShape()
                                    + (t.down() == null ? "" : " @ " + t.down().getShape()) + " for a weight of " + w.shape());
                        }
                    }
                    params.add(w);
                    terms.add(c.terms());
                }
                try {
                    Parameter.addAll(params, terms);
                } finally {
                    if (changes.stream().anyMatch(c -> c.part() == Part.UNET)) {
                        unetPatched = true;
                        unetChanged.run();
                    }
                }
            }

            @Override
            public void restore() {
                List<Parameter> all = new ArrayList<>();
                parts.values().forEach(p -> all.addAll(p.all().values()));
                try {
                    Parameter.restoreAll(all); // one native call for every part
                } finally {
                    if (unetPatched) { // only a UNet weight patched since the last restore changes it back
                        unetChanged.run();
                    }
                    unetPatched = false;
                }
            }
        };
    }

    /** Whether a term's product has the weight's element count (and its factors multiply). */
    private static boolean fits(PatchableModel.Term t, Shape weight) {
        Shape u = t.up().getShape();
        if (t.down() == null) {
            return u.size() == weight.size();
        }
        Shape d = t.down().getShape();
        return u.dimension() == 2 && d.dimension() == 2 && u.get(1) == d.get(0) && u.get(0) * d.get(1) == weight.size();
    }

    /** @return the CLIP text encoder */
    public ClipTextEncoder textEncoder() {
        return textEncoder;
    }

    /** @return SDXL's second text encoder (OpenCLIP ViT-bigG with projection), or null */
    public ClipTextEncoder textEncoder2() {
        return textEncoder2;
    }

    /** @return the noise-prediction UNet */
    public UNet2DConditionModel unet() {
        return unet;
    }

    /** @return the VAE */
    public AutoencoderKL vae() {
        return vae;
    }

    /** @return the manager owning the parameters */
    public NDManager manager() {
        return manager;
    }

    @Override
    public void close() {
        manager.close();
    }
}
