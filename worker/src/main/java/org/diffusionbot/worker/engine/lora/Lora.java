package org.diffusionbot.worker.engine.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.worker.engine.io.ModelFormatException;
import org.diffusionbot.worker.engine.io.SafetensorsFile;
import org.diffusionbot.worker.engine.io.TensorView;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;

/**
 * One LoRA file, read (never executed) and mapped onto a model: every tensor of the file belongs to
 * exactly one {@link Module}, a weight of the model it changes, or the file is refused with the keys
 * that map to nothing ({@link LoraKeys} says how names are mapped). Tensors are read when a delta is
 * computed, or once onto the device ({@link #upload}); close the LoRA to release the file and the copies.
 */
public final class Lora implements AutoCloseable {
    /** How many unmappable keys a refusal lists. */
    private static final int LISTED = 5;

    /**
     * One patched weight.
     *
     * @param part the model part
     * @param parameter the weight's diffusers name, e.g. {@code mid_block.attentions.0.proj_in.weight}
     * @param delta how to compute its change
     */
    public record Module(Part part, String parameter, LoraDelta delta) {}

    private final String name;
    private final SafetensorsFile file;
    private final LoraFamily family;
    private final List<Module> modules;
    private NDManager onDevice;
    private Map<Module, NDArray[]> factors = Map.of();

    private Lora(String name, SafetensorsFile file, LoraFamily family, List<Module> modules) {
        this.name = name;
        this.file = file;
        this.family = family;
        this.modules = List.copyOf(modules);
    }

    /**
     * Reads a LoRA file and maps it onto a model.
     *
     * @param path the {@code .safetensors} file
     * @param name the name prompts use (the file name without extension)
     * @param targets the model's weights
     * @return the mapped LoRA; close it when done
     * @throws LoraException if the file is for another family, or some key maps to no weight of the
     *     model (with their names and why), or the file is not a valid safetensors file
     */
    public static Lora open(Path path, String name, LoraTargets targets) {
        SafetensorsFile file;
        try {
            file = SafetensorsFile.open(path);
        } catch (ModelFormatException e) {
            throw new LoraException("LoRA " + name + ": " + e.getMessage());
        }
        try {
            LoraFamily family = LoraKeys.family(file);
            if (family != LoraFamily.UNKNOWN && targets.family() != LoraFamily.UNKNOWN && family != targets.family()) {
                throw new LoraException("LoRA " + name + " is for " + family.label() + " models; this model is "
                        + targets.family().label());
            }
            List<String> problems = new ArrayList<>();
            List<Module> modules = map(file, targets, problems);
            if (!problems.isEmpty()) {
                throw new LoraException("LoRA " + name + ": " + problems.size() + " of its "
                        + file.tensors().size() + " tensors fit no weight of this model ("
                        + String.join("; ", problems.subList(0, Math.min(LISTED, problems.size())))
                        + (problems.size() > LISTED ? "; ..." : "") + ")");
            }
            if (modules.isEmpty()) {
                throw new LoraException("LoRA " + name + " holds no tensors");
            }
            return new Lora(name, file, family == LoraFamily.UNKNOWN ? targets.family() : family, modules);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static List<Module> map(SafetensorsFile file, LoraTargets targets, List<String> problems) {
        Map<String, Map<String, TensorView>> byModule = new LinkedHashMap<>();
        for (TensorView v : file.tensors().values()) {
            LoraKeys.Split s = LoraKeys.split(v.name());
            if (s == null) {
                problems.add(v.name() + ": not a LoRA, LoHa or LoKr tensor name");
                continue;
            }
            byModule.computeIfAbsent(s.module(), k -> new LinkedHashMap<>()).put(s.suffix(), v);
        }
        LoraKeys keys = new LoraKeys(targets);
        List<Module> modules = new ArrayList<>();
        byModule.forEach((module, tensors) -> {
            LoraKeys.Target target = keys.target(module);
            if (target == null) {
                problems.add(module + ": no such module in this model");
                return;
            }
            LoraDelta delta;
            try {
                delta = LoraKeys.delta(tensors);
            } catch (IllegalArgumentException e) {
                problems.add(module + ": " + e.getMessage());
                return;
            }
            Shape shape = targets.of(target.part()).get(target.parameter());
            if (delta.outFeatures() != shape.get(0) || delta.elements() != shape.size()) {
                problems.add(module + ": its change has " + delta.outFeatures() + " outputs and " + delta.elements()
                        + " elements, the weight " + target.parameter() + " is " + shape);
                return;
            }
            modules.add(new Module(target.part(), target.parameter(), delta));
        });
        return modules;
    }

    /** @return the name prompts use */
    public String name() {
        return name;
    }

    /** @return the file */
    public Path path() {
        return file.path();
    }

    /** @return the file's {@code __metadata__} (empty when it has none) */
    public Map<String, String> metadata() {
        return file.metadata();
    }

    /** @return the family the file says it is for, else the model's (it fits the model) */
    public LoraFamily family() {
        return family;
    }

    /** @return the patched weights, one per module of the file */
    public List<Module> modules() {
        return modules;
    }

    /** @return how many modules patch the given part */
    public long modulesOf(Part part) {
        return modules.stream().filter(m -> m.part() == part).count();
    }

    /**
     * The bytes the device copies of this LoRA's plain low-rank factors take ({@link #upload}).
     *
     * @param keepHalf whether float16 tensors stay float16 (else every factor is float32)
     */
    public long factorBytes(boolean keepHalf) {
        long n = 0;
        for (Module m : modules) {
            if (m.delta() instanceof LoraDelta.LowRank r && r.plain()) {
                n += r.factorBytes(keepHalf);
            }
        }
        return n;
    }

    /**
     * Reads the factors of every plain low-rank module ({@link LoraDelta.LowRank#plain}) onto a device once,
     * so that applying the LoRA reads nothing from the file ({@link #factors}); other modules (Tucker,
     * LoHa, LoKr) are still computed from the file. Replaces an earlier upload.
     *
     * @param device where the copies go (the model's device)
     * @param keepHalf keep float16 tensors in float16 (else float32)
     */
    public synchronized void upload(Device device, boolean keepHalf) {
        release();
        NDManager m = NDManager.newBaseManager(device);
        Map<Module, NDArray[]> copies = new IdentityHashMap<>();
        try {
            for (Module mod : modules) {
                if (mod.delta() instanceof LoraDelta.LowRank r && r.plain()) {
                    copies.put(mod, r.factors(m, device, keepHalf));
                }
            }
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        onDevice = m;
        factors = copies;
    }

    /** @return whether {@link #upload} copies are held */
    public synchronized boolean uploaded() {
        return onDevice != null;
    }

    /**
     * @param module one of {@link #modules()}
     * @return its uploaded factors {up [out, r], down [r, n]} (owned by this LoRA: do not close them), or
     *     null when not uploaded or not a plain low-rank module
     */
    public synchronized NDArray[] factors(Module module) {
        return factors.get(module);
    }

    /** Frees the device copies of {@link #upload} (the LoRA stays usable, read from its file). */
    public synchronized void release() {
        if (onDevice != null) {
            onDevice.close();
            onDevice = null;
            factors = Map.of();
        }
    }

    @Override
    public void close() {
        release();
        file.close();
    }
}
