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
 * that changed on disk is mapped again. The factors of plain low-rank modules (kohya LoRA and LoCon
 * without a Tucker core, PEFT) are put on the model's device at a LoRA's first use and kept there
 * ({@link Lora#upload}: float16 files stay float16 on a GPU, else float32) up to a budget given when it
 * is made (the pipeline's: {@code SD_LORA_CACHE_MB}, default {@value #CACHE_MB} MiB), the LoRAs used least recently dropped first; a
 * switch then reads nothing from disk and copies nothing to the device, and hands every weight's change
 * to the model at once ({@link PatchableModel#addAll}: one native call with the native library).
 * Not thread-safe: one batch at a time.
 */
public final class LoraPatcher implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(LoraPatcher.class);
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
    /** LoRAs whose factors are on the device, least recently applied first, with their bytes. */
    private final LinkedHashMap<Lora, Long> uploaded = new LinkedHashMap<>();
    private final long cacheBytes;
    private final boolean keepHalf;

    /** Default of {@code SD_LORA_CACHE_MB}: how many MiB of LoRA factors stay on the device. */
    public static final int CACHE_MB = 1024;
    /** Changes computed from the file (not low-rank) are handed to the model in slices of this many bytes. */
    private static final long FULL_BYTES = 256L << 20;

    /**
     * With the default budget: {@value #CACHE_MB} MiB of LoRA factors on the device.
     *
     * @param model the model's weights
     * @param folder the LoRA folder ({@code LORA_DIR})
     * @param device where deltas are computed (the model's device)
     */
    public LoraPatcher(PatchableModel model, ModelFolder folder, Device device) {
        this(model, folder, device, (long) CACHE_MB << 20);
    }

    /**
     * @param model the model's weights
     * @param folder the LoRA folder ({@code LORA_DIR})
     * @param device where deltas are computed (the model's device)
     * @param cacheBytes how many bytes of LoRA factors may stay on the device (0: none; each switch then
     *     reads the factors from the files); the worker's is {@code PipelineOptions#loraCacheBytes()}
     */
    public LoraPatcher(PatchableModel model, ModelFolder folder, Device device, long cacheBytes) {
        this.model = model;
        this.folder = folder;
        this.device = device;
        this.manager = NDManager.newBaseManager(device);
        this.cacheBytes = cacheBytes;
        this.keepHalf = device.isGpu();
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
        Map<Part, Map<String, List<Use>>> byWeight = new LinkedHashMap<>();
        List<LoraTags.Lora> weights = new ArrayList<>(set.values());
        for (int i = 0; i < loras.size(); i++) {
            LoraTags.Lora w = weights.get(i);
            for (Lora.Module m : loras.get(i).modules()) {
                double scale = m.part() == Part.UNET ? w.unet() : w.te();
                if (scale != 0) {
                    byWeight.computeIfAbsent(m.part(), k -> new LinkedHashMap<>())
                            .computeIfAbsent(m.parameter(), k -> new ArrayList<>()).add(new Use(loras.get(i), m, scale));
                }
            }
        }
        try {
            resident(loras);
            patch(byWeight);
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

    /** One LoRA's module in the applied set, with the prompt's weight for its part. */
    private record Use(Lora lora, Lora.Module module, double weight) {}

    /**
     * Adds every weight's change with {@link PatchableModel#addAll}: uploaded factors as low-rank terms,
     * other changes computed from the file (float32 arrays of the weight's size, handed over in slices of
     * at most {@link #FULL_BYTES} so that a LoHa over the whole UNet does not hold all of them at once).
     */
    private void patch(Map<Part, Map<String, List<Use>>> byWeight) {
        List<PatchableModel.Change> changes = new ArrayList<>();
        NDManager held = manager.newSubManager(device);
        try {
            long full = 0;
            for (Map.Entry<Part, Map<String, List<Use>>> part : byWeight.entrySet()) {
                Map<String, Shape> shapes = model.targets().of(part.getKey());
                for (Map.Entry<String, List<Use>> weight : part.getValue().entrySet()) {
                    Shape shape = shapes.get(weight.getKey());
                    List<PatchableModel.Term> terms = new ArrayList<>();
                    for (Use u : weight.getValue()) {
                        PatchableModel.Term t = term(u, shape, held);
                        full += t.down() == null ? shape.size() * 4 : 0;
                        terms.add(t);
                    }
                    changes.add(new PatchableModel.Change(part.getKey(), weight.getKey(), terms));
                    if (full > FULL_BYTES) {
                        model.addAll(changes);
                        changes.clear();
                        held.close();
                        held = manager.newSubManager(device);
                        full = 0;
                    }
                }
            }
            model.addAll(changes);
        } finally {
            held.close();
        }
    }

    /** A module's term: its uploaded factors, else factors read from the file, else its change computed. */
    private PatchableModel.Term term(Use u, Shape shape, NDManager held) {
        if (u.module().delta() instanceof LoraDelta.LowRank r && r.plain()) {
            NDArray[] f = u.lora().factors(u.module());
            if (f == null) {
                f = r.factors(held, device, false);
            }
            return new PatchableModel.Term(f[0], f[1], u.weight() * r.scale());
        }
        return new PatchableModel.Term(u.module().delta().compute(held, device, shape), null, u.weight());
    }

    /**
     * Keeps the factors of the set's LoRAs on the device ({@link Lora#upload}) while they fit in {@link
     * #cacheBytes}, dropping those of the LoRAs used least recently outside the set first; a LoRA that does
     * not fit is read from its file at each switch.
     */
    private void resident(List<Lora> set) {
        for (Lora l : set) {
            if (l.uploaded()) {
                uploaded.remove(l);
                uploaded.put(l, l.factorBytes(keepHalf)); // most recently used last
                continue;
            }
            long need = l.factorBytes(keepHalf);
            if (need == 0 || need > cacheBytes) {
                LOG.debug("LoRA {}: {} bytes of factors, SD_LORA_CACHE_MB allows {}: read from its file", l.name(), need,
                        cacheBytes);
                continue;
            }
            for (var it = uploaded.entrySet().iterator(); it.hasNext() && used() + need > cacheBytes;) {
                Map.Entry<Lora, Long> e = it.next();
                if (!set.contains(e.getKey())) {
                    e.getKey().release();
                    it.remove();
                    LOG.info("LoRA {}: factors dropped from {} to make room (SD_LORA_CACHE_MB)", e.getKey().name(), device);
                }
            }
            if (used() + need <= cacheBytes) {
                l.upload(device, keepHalf);
                uploaded.put(l, need);
                LOG.info("LoRA {}: {} MiB of factors on {} ({} MiB held)", l.name(), mib(need), device, mib(used()));
            } else {
                LOG.debug("LoRA {}: no room for its factors next to the set's others: read from its file", l.name());
            }
        }
    }

    private static String mib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f", bytes / 1048576.0);
    }

    private long used() {
        return uploaded.values().stream().mapToLong(Long::longValue).sum();
    }

    /** @return the bytes of LoRA factors held on the device now (at most {@link #cacheBytes()}) */
    public synchronized long uploadedBytes() {
        return used();
    }

    /** @return how many bytes of LoRA factors may stay on the device, as given when it was made */
    public long cacheBytes() {
        return cacheBytes;
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
            uploaded.remove(o.lora());
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
            uploaded.clear();
            manager.close();
        }
    }
}
