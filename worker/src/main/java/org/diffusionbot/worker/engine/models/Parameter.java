package org.diffusionbot.worker.engine.models;

import static org.diffusionbot.worker.engine.Scalars.div;
import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Collection;
import java.util.List;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.lora.PatchableModel;

/**
 * One parameter of a loaded model under its diffusers name (e.g. {@code
 * down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight}), over the array the layer
 * computes with: the whole array, or rows of a fused one (attention's q, k and v are one matrix,
 * and q is stored pre-multiplied by 1/√head_dim). Patches ({@link #add}) write into that array in
 * place, so a CUDA graph captured over it sees the new values without being captured again;
 * {@link #restore} writes the values from before the first patch back, bit for bit.
 *
 * <p>Not thread-safe: patch only while no forward pass runs (the worker runs one batch at a time).
 */
public final class Parameter {
    private final String name;
    private final Shape shape;
    private final NDArray storage;
    private final long offset;
    private final double scale;
    private NDArray original;
    private NDArray view;

    /**
     * @param name the diffusers name
     * @param shape the parameter's shape in diffusers terms (e.g. a conv weight (out, in, k, k))
     * @param storage the array the layer computes with
     * @param offset first row of the parameter in {@code storage} (0 for a whole array)
     * @param scale what the stored values are multiplied by ({@code storage = scale · value})
     */
    Parameter(String name, Shape shape, NDArray storage, long offset, double scale) {
        this.name = name;
        this.shape = shape;
        this.storage = storage;
        this.offset = offset;
        this.scale = scale;
    }

    /** @return the diffusers name */
    public String name() {
        return name;
    }

    /** @return the shape in diffusers terms */
    public Shape shape() {
        return shape;
    }

    /** @return the array the model computes with (the same object before and after patches) */
    NDArray storage() {
        return storage;
    }

    /** @return what the stored values are multiplied by ({@code storage = scale · value}) */
    double storedScale() {
        return scale;
    }

    /**
     * The stored rows as they are (the storage's dtype, the scale not undone), a copy in {@code manager}.
     *
     * @param manager owner of the copy
     * @return the rows, of {@link #shape()}
     */
    NDArray stored(NDManager manager) {
        NDArray c = view().duplicate();
        c.attach(manager);
        return c;
    }

    /** @return whether a patch is applied ({@link #restore} undoes it) */
    public boolean patched() {
        return original != null;
    }

    /**
     * The current value in float32 (scale undone), a new array in {@code manager}.
     *
     * @param manager owner of the copy
     * @return the value, of {@link #shape()}
     */
    public NDArray value(NDManager manager) {
        NDArray rows = rows();
        try {
            // toType of a float32 storage may share its memory (changing it in place would change the model)
            NDArray f = rows.toType(DataType.FLOAT32, false);
            NDArray v = scale == 1 ? f.duplicate() : div(f, scale);
            if (f != rows) {
                f.close();
            }
            v.attach(manager);
            return v;
        } finally {
            rows.close(); // a view (or copy) of the storage, which stays
        }
    }

    /**
     * Adds {@code delta} in place (computed in float32, then stored in the model's dtype); the first
     * patch keeps a copy of the values for {@link #restore}.
     *
     * @param delta of {@link #shape()}, any dtype and device
     * @throws IllegalArgumentException for another shape
     */
    public void add(NDArray delta) {
        if (!delta.getShape().equals(shape)) {
            throw new IllegalArgumentException(name + ": a delta of shape " + delta.getShape() + " for a parameter of "
                    + shape);
        }
        try (NDManager tmp = storage.getManager().newSubManager()) {
            NDArray d = delta;
            if (!d.getDevice().equals(storage.getDevice())) {
                d = d.toDevice(storage.getDevice(), false);
                d.attach(tmp);
            }
            if (d.getDataType() != DataType.FLOAT32) {
                d = d.toType(DataType.FLOAT32, false);
                d.attach(tmp);
            }
            if (scale != 1) {
                d = mul(d, scale);
                d.attach(tmp);
            }
            addInPlace(d);
        }
    }

    /**
     * Adds {@code Σ term} in place, as {@link #add(NDArray)} adds the sum: with DJL, one weight at a time.
     *
     * @param terms the change's terms (on the storage's device)
     */
    void add(List<PatchableModel.Term> terms) {
        try (NDManager tmp = storage.getManager().newSubManager()) {
            addInPlace(PatchableModel.sum(terms, shape, scale, tmp));
        }
    }

    /**
     * {@code rows += delta} in place: PyTorch's in-place add of a float32 delta to a float16 (or float32)
     * tensor computes in float32 and rounds once, the same bits as converting, adding and converting back.
     */
    private void addInPlace(NDArray delta) {
        NDArray rows = view();
        if (original == null) {
            original = rows.duplicate();
            original.attach(storage.getManager());
        }
        rows.addi(delta);
    }

    /** Writes back the values from before the first patch (bit-identical); nothing when unpatched. */
    public void restore() {
        if (original != null) {
            storage.set(index(), original);
            original.close();
            original = null;
        }
    }

    /**
     * Adds a change to each of {@code params} ({@link #add(List)}): in one call of the native library
     * when LoRA patches use it ({@link NativeOps#loraPatches}), else with DJL one parameter at a time.
     *
     * @param params the parameters, each once
     * @param terms each parameter's terms, element counts checked by the caller
     */
    static void addAll(List<Parameter> params, List<List<PatchableModel.Term>> terms) {
        if (params.isEmpty()) {
            return;
        }
        if (!NativeOps.loraPatches()) {
            for (int i = 0; i < params.size(); i++) {
                params.get(i).add(terms.get(i));
            }
            return;
        }
        int n = params.size();
        Rows at = Rows.of(params);
        boolean[] keep = new boolean[n];
        int[] ends = new int[n];
        int count = terms.stream().mapToInt(List::size).sum();
        long[] ups = new long[count];
        long[] downs = new long[count];
        double[] scales = new double[count];
        int t = 0;
        for (int i = 0; i < n; i++) {
            Parameter p = params.get(i);
            keep[i] = p.original == null;
            for (PatchableModel.Term term : terms.get(i)) {
                ups[t] = NativeOps.h(term.up());
                downs[t] = NativeOps.h(term.down());
                scales[t++] = term.scale() * p.scale;
            }
            ends[i] = t;
        }
        long[] originals = NativeOps.loraAdd(at.storages, at.offsets, at.rows, keep, ends, ups, downs, scales);
        for (int i = 0; i < n; i++) {
            if (keep[i]) {
                Parameter p = params.get(i);
                p.original = NativeOps.wrap(p.storage, originals[i]);
            }
        }
    }

    /**
     * Restores every patched parameter of {@code params} ({@link #restore()}): in one call of the native
     * library when LoRA patches use it ({@link NativeOps#loraPatches}), else one at a time.
     */
    static void restoreAll(Collection<Parameter> params) {
        List<Parameter> patched = params.stream().filter(Parameter::patched).toList();
        if (patched.isEmpty()) {
            return;
        }
        if (!NativeOps.loraPatches()) {
            patched.forEach(Parameter::restore);
            return;
        }
        Rows at = Rows.of(patched);
        long[] originals = patched.stream().mapToLong(p -> NativeOps.h(p.original)).toArray();
        NativeOps.loraRestore(at.storages, at.offsets, at.rows, originals);
        for (Parameter p : patched) {
            p.original.close();
            p.original = null;
        }
    }

    /** Where parameters live, as {@link NativeOps#loraAdd} addresses them: storage handle, first row, rows (-1: whole). */
    private record Rows(long[] storages, long[] offsets, long[] rows) {
        static Rows of(List<Parameter> params) {
            int n = params.size();
            Rows r = new Rows(new long[n], new long[n], new long[n]);
            for (int i = 0; i < n; i++) {
                Parameter p = params.get(i);
                r.storages[i] = NativeOps.h(p.storage);
                r.offsets[i] = p.offset;
                r.rows[i] = p.whole() ? -1 : p.shape.get(0);
            }
            return r;
        }
    }

    private boolean whole() {
        return offset == 0 && storage.getShape().get(0) == shape.get(0);
    }

    private NDIndex index() {
        return whole() ? new NDIndex(":") : new NDIndex("{}:{}", offset, offset + shape.get(0));
    }

    private NDArray rows() {
        return storage.get(index());
    }

    /**
     * The parameter's rows of the storage, sharing its memory (writes change the model): the storage
     * itself for a whole array, else a view made once and kept (the storage never changes).
     */
    private NDArray view() {
        if (whole()) {
            return storage;
        }
        if (view == null) {
            view = rows();
            view.attach(storage.getManager());
        }
        return view;
    }
}
