package org.diffusionbot.worker.engine.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

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
            NDArray v = scale == 1 ? f.duplicate() : f.div(scale);
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
            NDArray rows = rows();
            rows.attach(tmp);
            if (original == null) {
                original = rows.duplicate();
                original.attach(storage.getManager());
            }
            NDArray d = delta.toDevice(storage.getDevice(), true).toType(DataType.FLOAT32, false);
            d.attach(tmp);
            NDArray updated = rows.toType(DataType.FLOAT32, true).addi(scale == 1 ? d : d.mul(scale))
                    .toType(storage.getDataType(), false);
            updated.attach(tmp);
            write(updated);
        }
    }

    /** Writes back the values from before the first patch (bit-identical); nothing when unpatched. */
    public void restore() {
        if (original != null) {
            write(original);
            original.close();
            original = null;
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

    private void write(NDArray value) {
        storage.set(index(), value);
    }
}
