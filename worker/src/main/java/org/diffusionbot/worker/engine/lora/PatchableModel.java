package org.diffusionbot.worker.engine.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.diffusionbot.worker.engine.lora.LoraTargets.Part;

/**
 * The weights of a loaded model as a LoRA patch sees them: by part and diffusers name, changed in
 * place (the arrays the layers compute with stay the same objects, so captured CUDA graphs stay
 * valid) and restored bit for bit.
 *
 * <p>Not thread-safe: patch only while no forward pass runs.
 */
public interface PatchableModel {
    /**
     * One term of a weight's change: {@code scale · up @ down} (a low-rank product: up [out, r], down
     * [r, n], out · n = the weight's element count, laid out row-major as the weight), or {@code scale ·
     * up} when {@code down} is null (up holds the weight's element count). Any float dtype, on the
     * model's device; products and sums are taken in float32.
     *
     * @param up the up factor (or the whole change)
     * @param down the down factor, or null
     * @param scale the factor the product is multiplied by
     */
    record Term(NDArray up, NDArray down, double scale) {}

    /**
     * The change of one weight: the sum of its terms.
     *
     * @param part the model part
     * @param name the weight's diffusers name (a key of {@link LoraTargets#of})
     * @param terms what is added
     */
    record Change(Part part, String name, List<Term> terms) {}

    /** @return the model's family and the shape of every weight a LoRA may patch, by part and name */
    LoraTargets targets();

    /**
     * Adds {@code delta} to a weight in place. The first change of a weight since the last {@link
     * #restore} keeps its original values.
     *
     * @param part the model part
     * @param name the weight's diffusers name (a key of {@link LoraTargets#of})
     * @param delta float32, of the weight's shape (from {@link #targets()}), any device
     * @throws IllegalArgumentException for an unknown name or another shape
     */
    void add(Part part, String name, NDArray delta);

    /**
     * Adds many changes, each as {@link #add} would add the sum of its terms (computed in float32). This
     * default sums each change with DJL and calls {@link #add}; the engine's models do it with fewer
     * calls (and in one native call with the native library).
     *
     * @param changes the changes, at most one per weight
     * @throws IllegalArgumentException for an unknown name or terms of another element count
     */
    default void addAll(List<Change> changes) {
        for (Change c : changes) {
            Shape shape = targets().of(c.part()).get(c.name());
            if (shape == null) {
                throw new IllegalArgumentException("the model has no " + c.part().component() + " weight " + c.name());
            }
            try (NDManager tmp = c.terms().get(0).up().getManager().newSubManager()) {
                add(c.part(), c.name(), sum(c.terms(), shape, 1, tmp));
            }
        }
    }

    /** Writes back the original of every weight changed since the last restore, bit-identical. */
    void restore();

    /**
     * {@code extra · Σ scale · term} in float32 with DJL, shaped {@code shape}.
     *
     * @param terms at least one
     * @param shape the weight's shape (its element count must be each term's)
     * @param extra a factor of every term (1, or what a weight is stored multiplied by)
     * @param manager owner of the result (intermediates are closed)
     * @return a new float32 array on the terms' device
     * @throws IllegalArgumentException if a term's element count is not the shape's
     */
    static NDArray sum(List<Term> terms, Shape shape, double extra, NDManager manager) {
        NDArray sum = null;
        try (NDManager tmp = manager.newSubManager();
                NDManager host = tmp.newSubManager(ai.djl.Device.cpu())) {
            for (Term t : terms) {
                // a 0-d CPU scalar: on CUDA, manager.create(number) would copy it to the device and wait
                NDArray x = owned(f32(t.up(), tmp).mul(host.create((float) (t.scale() * extra))), tmp);
                if (t.down() != null) {
                    x = owned(x.matMul(f32(t.down(), tmp)), tmp);
                }
                if (x.getShape().size() != shape.size()) {
                    throw new IllegalArgumentException("a change of " + x.getShape() + " for a weight of " + shape);
                }
                sum = sum == null ? x : sum.addi(x);
            }
            NDArray out = sum.getShape().equals(shape) ? sum : sum.reshape(shape);
            out.attach(manager);
            return out;
        }
    }

    /** {@code a} in float32: itself when it is, else a copy owned by {@code tmp}. */
    private static NDArray f32(NDArray a, NDManager tmp) {
        return a.getDataType() == DataType.FLOAT32 ? a : owned(a.toType(DataType.FLOAT32, false), tmp);
    }

    /** A new array moved to {@code tmp} (DJL attaches results to their first operand's manager). */
    private static NDArray owned(NDArray a, NDManager tmp) {
        a.attach(tmp);
        return a;
    }
}
