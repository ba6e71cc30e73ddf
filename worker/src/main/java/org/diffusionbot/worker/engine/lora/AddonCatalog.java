package org.diffusionbot.worker.engine.lora;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.SafetensorsFile;
import org.diffusionbot.worker.engine.io.TensorView;

/**
 * What a worker announces in its heartbeats of its LoRA and embeddings folders: each {@code
 * .safetensors} file's name and the model family it is for ({@code sd1}, {@code sd2}, {@code sdxl},
 * {@code unknown}), read from the file's header (metadata and tensor names and shapes, never its
 * weights) once per file version. The folders are listed again on every call, so files added or
 * removed while the worker runs show in the next heartbeat.
 */
public final class AddonCatalog {
    private final ModelFolder loras;
    private final ModelFolder embeddings;
    private final Map<String, String> families = new ConcurrentHashMap<>();

    /**
     * @param loras the LoRA folder, or null
     * @param embeddings the embeddings folder, or null
     */
    public AddonCatalog(ModelFolder loras, ModelFolder embeddings) {
        this.loras = loras;
        this.embeddings = embeddings;
    }

    /** @return the LoRAs, by name */
    public List<WorkerHeartbeat.Addon> loras() {
        return list(loras, true);
    }

    /** @return the embeddings, by name */
    public List<WorkerHeartbeat.Addon> embeddings() {
        return list(embeddings, false);
    }

    private List<WorkerHeartbeat.Addon> list(ModelFolder folder, boolean lora) {
        if (folder == null) {
            return List.of();
        }
        folder.rescan();
        List<WorkerHeartbeat.Addon> out = new ArrayList<>();
        for (Path p : new TreeMap<>(folder.files()).values()) {
            String family = family(p, lora);
            if (family != null) {
                out.add(new WorkerHeartbeat.Addon(ModelFolder.name(p), family));
            }
        }
        return out;
    }

    /** The family of a file, or null for one that is not a readable safetensors file (left out). */
    private String family(Path p, boolean lora) {
        String key;
        try {
            key = p + "|" + Files.size(p) + "|" + Files.getLastModifiedTime(p).toMillis();
        } catch (IOException e) {
            return null;
        }
        String cached = families.get(key);
        if (cached != null) {
            return cached.isEmpty() ? null : cached;
        }
        String family;
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            family = lora ? LoraKeys.family(f).id() : embeddingFamily(f).id();
        } catch (ModelFormatException | LoraException e) {
            family = "";
        }
        families.put(key, family);
        return family.isEmpty() ? null : family;
    }

    /**
     * An embedding's family from its layout: {@code clip_l} + {@code clip_g} is SDXL; one tensor of
     * width 768 SD 1.x (CLIP ViT-L), 1024 SD 2.x (OpenCLIP ViT-H); anything else unknown.
     */
    static LoraFamily embeddingFamily(SafetensorsFile f) {
        if (f.tensor("clip_l") != null && f.tensor("clip_g") != null) {
            return LoraFamily.SDXL;
        }
        if (f.tensors().size() == 1) {
            TensorView t = f.tensors().values().iterator().next();
            long width = t.shape().get(t.shape().dimension() - 1);
            return width == 768 ? LoraFamily.SD1 : width == 1024 ? LoraFamily.SD2 : LoraFamily.UNKNOWN;
        }
        return LoraFamily.UNKNOWN;
    }
}
