package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.types.Shape;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A loaded model's parameters by diffusers name ({@link Parameter}): what a LoRA patch or a weight
 * swap addresses. Patches are applied in place and undone bit-exactly ({@link #restoreAll}), so the
 * model (and CUDA graphs captured over it) stays the same object.
 */
public final class NamedParameters {
    private final Map<String, Parameter> byName;

    NamedParameters(Map<String, Parameter> byName) {
        this.byName = Collections.unmodifiableMap(new LinkedHashMap<>(byName));
    }

    /**
     * @param name a diffusers parameter name
     * @return the parameter, or null when the model has none of that name
     */
    public Parameter get(String name) {
        return byName.get(name);
    }

    /** @return every parameter by name, in load order (unmodifiable) */
    public Map<String, Parameter> all() {
        return byName;
    }

    /** @return name → shape of every parameter (what a LoRA file is mapped against) */
    public Map<String, Shape> shapes() {
        Map<String, Shape> out = new LinkedHashMap<>();
        byName.forEach((n, p) -> out.put(n, p.shape()));
        return out;
    }

    /** Undoes every patch ({@link Parameter#restore()}; in one native call with the native library). */
    public void restoreAll() {
        Parameter.restoreAll(byName.values());
    }

    /** @return whether any parameter is patched */
    public boolean patched() {
        return byName.values().stream().anyMatch(Parameter::patched);
    }
}
