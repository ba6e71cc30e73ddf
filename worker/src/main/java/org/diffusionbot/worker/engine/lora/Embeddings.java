package org.diffusionbot.worker.engine.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.SafetensorsFile;
import org.diffusionbot.worker.engine.io.TensorView;

/**
 * Textual-inversion embeddings in AUTOMATIC1111's {@code .safetensors} layouts ({@code
 * modules/textual_inversion/textual_inversion.py}, {@code load_from_file}): SDXL files hold {@code
 * clip_l} [n, 768] for the first text encoder and {@code clip_g} [n, 1280] for the second; other
 * files hold one tensor ({@code emb_params}, or a diffusers concept's token) [n, hidden] or [hidden].
 * The name that triggers an embedding is its file name.
 */
public final class Embeddings {
    private Embeddings() {}

    /**
     * One embedding, with its vectors for each text encoder of the model.
     *
     * @param name the trigger word (file name without extension)
     * @param file the file
     * @param vectors how many token positions it fills
     * @param perEncoder for each text encoder, {@code vectors × hidden} floats, row-major
     */
    public record Embedding(String name, Path file, int vectors, List<float[]> perEncoder) {
        public Embedding {
            perEncoder = List.copyOf(perEncoder);
        }
    }

    /**
     * Reads every embedding of a folder that fits the model's text encoders; the others are reported
     * to {@code warn} (one line each: which file, why) and left out.
     *
     * @param folder the embeddings folder
     * @param widths the hidden size of each text encoder (one for SD 1.x/2.x, two for SDXL)
     * @param warn receives one line per file left out
     * @return the usable embeddings, by name order
     */
    public static List<Embedding> load(ModelFolder folder, int[] widths, Consumer<String> warn) {
        List<Embedding> out = new ArrayList<>();
        for (Path p : new java.util.TreeMap<>(folder.files()).values()) {
            try {
                out.add(read(p, widths));
            } catch (LoraException | ModelFormatException e) {
                warn.accept(e.getMessage());
            }
        }
        return out;
    }

    /**
     * Reads one embedding file for a model with the given text encoder widths.
     *
     * @throws LoraException if its layout or widths do not fit the model
     */
    public static Embedding read(Path file, int[] widths) {
        String name = ModelFolder.name(file);
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            List<TensorView> tensors = new ArrayList<>();
            if (f.tensor("clip_l") != null && f.tensor("clip_g") != null) {
                if (widths.length != 2) {
                    throw new LoraException("embedding " + name + " is for SDXL (clip_l + clip_g); this model has one text encoder");
                }
                tensors.add(f.tensor("clip_l"));
                tensors.add(f.tensor("clip_g"));
            } else if (f.tensors().size() == 1 && widths.length == 1) {
                tensors.add(f.tensors().values().iterator().next());
            } else {
                throw new LoraException("embedding " + name + " holds " + f.tensors().keySet() + ": expected one tensor"
                        + (widths.length == 2 ? ", or clip_l and clip_g for SDXL" : " (emb_params)"));
            }
            List<float[]> per = new ArrayList<>();
            int vectors = -1;
            for (int i = 0; i < tensors.size(); i++) {
                TensorView t = tensors.get(i);
                long width = t.shape().get(t.shape().dimension() - 1);
                int n = t.shape().dimension() == 1 ? 1 : (int) (t.shape().size() / width);
                if (t.shape().dimension() > 2 || width != widths[i] || (vectors >= 0 && n != vectors) || n == 0) {
                    throw new LoraException("embedding " + name + ": " + t + " does not fit text encoder " + (i + 1)
                            + " (" + widths[i] + " wide)" + (widths.length == 1 && widths[0] != width
                                    ? ": it is for another model family" : ""));
                }
                vectors = n;
                per.add(t.toNDArray(m, DataType.FLOAT32, Device.cpu()).toFloatArray());
            }
            return new Embedding(name, file, vectors, per);
        } catch (ModelFormatException e) {
            throw new LoraException("embedding " + name + ": " + e.getMessage());
        }
    }
}
