package org.diffusionbot.worker.engine.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.common.LoraTags;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;

/**
 * Puts a set of LoRAs on a loaded model, in place ({@link PatchableModel}): for every weight a LoRA
 * of the set changes, {@code W ← W + Σ weight · delta} with the sum computed in float32 and added
 * once (several LoRAs add their deltas, as in AUTOMATIC1111 and diffusers' {@code set_adapters}); the
 * UNet takes each LoRA's UNet weight, the text encoder(s) its text-encoder weight. Changing the set
 * first restores the checkpoint's weights bit for bit, so nothing drifts however often sets change;
 * applying the set already applied does nothing (consecutive batches of one set pay once).
 *
 * <p>LoRA files are read (never executed) and mapped onto the model once, then kept open; a file
 * that changed on disk is mapped again. Not thread-safe: one batch at a time.
 */
public final class LoraPatcher implements AutoCloseable {
    private final PatchableModel model;
    private final ModelFolder folder;
    private final Device device;
    private final NDManager manager;
    private final Map<String, Opened> opened = new HashMap<>();
    private Map<String, LoraTags.Lora> current = Map.of();

    private record Opened(Path path, long size, long modified, Lora lora) {}

    /** One LoRA of the applied set, for the image's parameters. */
    public record Applied(String name, String hash) {}

    private List<Applied> applied = List.of();
    private long switches;

    /**
     * @param model the model's weights
     * @param folder the LoRA folder ({@code LORA_DIR})
     * @param device where deltas are computed (the model's device)
     */
    public LoraPatcher(PatchableModel model, ModelFolder folder, Device device) {
        this.model = model;
        this.folder = folder;
        this.device = device;
        this.manager = NDManager.newBaseManager(device);
    }

    /** @return the set applied now (name in lower case → weights; empty: the checkpoint's own weights) */
    public Map<String, LoraTags.Lora> current() {
        return current;
    }

    /**
     * @return how many times {@link #apply} changed the model's weights (a different set, the empty set
     *     included); applying the set already applied does not count
     */
    public synchronized long switches() {
        return switches;
    }

    /** @return the LoRAs applied now, as named in their files, with AUTOMATIC1111's short hashes */
    public List<Applied> applied() {
        return applied;
    }

    /**
     * AUTOMATIC1111's {@code Lora hashes} value for the applied set ({@code "name: 0123456789ab, ..."}),
     * or null when none is applied.
     */
    public String loraHashes() {
        return applied.isEmpty() ? null
                : String.join(", ", applied.stream().map(a -> a.name() + ": " + a.hash()).toList());
    }

    /**
     * Makes the model carry exactly {@code set} ({@link LoraTags#set}: name → summed weights).
     *
     * @param set the LoRAs, by lower-case name; empty restores the checkpoint
     * @throws LoraException if a LoRA is unknown, pickled, for another family or does not fit the
     *     model; the model is then left with the checkpoint's own weights
     */
    public synchronized void apply(Map<String, LoraTags.Lora> set) {
        if (set.equals(current)) {
            return;
        }
        switches++;
        List<Lora> loras = new ArrayList<>();
        for (String name : set.keySet()) {
            loras.add(open(name)); // every file resolved and mapped before the model is touched
        }
        model.restore();
        current = Map.of();
        applied = List.of();
        if (set.isEmpty()) {
            return;
        }
        Map<Part, Map<String, List<Object[]>>> byWeight = new LinkedHashMap<>();
        List<LoraTags.Lora> weights = new ArrayList<>(set.values());
        for (int i = 0; i < loras.size(); i++) {
            LoraTags.Lora w = weights.get(i);
            for (Lora.Module m : loras.get(i).modules()) {
                double scale = m.part() == Part.UNET ? w.unet() : w.te();
                if (scale != 0) {
                    byWeight.computeIfAbsent(m.part(), k -> new LinkedHashMap<>())
                            .computeIfAbsent(m.parameter(), k -> new ArrayList<>()).add(new Object[] {m.delta(), scale});
                }
            }
        }
        try {
            byWeight.forEach((part, params) -> {
                Map<String, Shape> shapes = model.targets().of(part);
                params.forEach((name, deltas) -> {
                    try (NDManager m = manager.newSubManager(device)) {
                        NDArray sum = null;
                        for (Object[] d : deltas) {
                            NDArray x = ((LoraDelta) d[0]).compute(m, device, shapes.get(name)).muli((double) d[1]);
                            sum = sum == null ? x : sum.addi(x);
                        }
                        model.add(part, name, sum);
                    }
                });
            });
        } catch (RuntimeException e) {
            model.restore();
            throw e;
        }
        current = Map.copyOf(set);
        List<Applied> names = new ArrayList<>();
        for (Lora l : loras) {
            names.add(new Applied(l.name(), folder.loraHash(l.path(), l.metadata().get("sshs_model_hash"))));
        }
        applied = List.copyOf(names);
    }

    private Lora open(String name) {
        Path path = folder.resolve(name);
        long size;
        long modified;
        try {
            size = java.nio.file.Files.size(path);
            modified = java.nio.file.Files.getLastModifiedTime(path).toMillis();
        } catch (java.io.IOException e) {
            throw new LoraException("LoRA " + name + ": cannot read " + path + ": " + e.getMessage());
        }
        Opened o = opened.get(path.toString());
        if (o != null && o.size() == size && o.modified() == modified) {
            return o.lora();
        }
        if (o != null) {
            if (current.containsKey(name.toLowerCase(java.util.Locale.ROOT))) {
                model.restore(); // its old tensors are applied: take them off before the file goes
                current = Map.of();
                applied = List.of();
            }
            o.lora().close();
            opened.remove(path.toString());
        }
        Lora lora = Lora.open(path, ModelFolder.name(path), model.targets());
        opened.put(path.toString(), new Opened(path, size, modified, lora));
        return lora;
    }

    /** Restores the checkpoint's weights and closes the LoRA files. */
    @Override
    public synchronized void close() {
        try {
            model.restore();
        } finally {
            current = Map.of();
            applied = List.of();
            opened.values().forEach(o -> o.lora().close());
            opened.clear();
            manager.close();
        }
    }
}
