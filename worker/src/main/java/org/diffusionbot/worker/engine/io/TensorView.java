package org.diffusionbot.worker.engine.io;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;

/**
 * One tensor of a {@link SafetensorsFile}: name, dtype, shape and location of its bytes. Nothing is
 * read until {@link #toNDArray} maps the tensor's byte range of the file.
 */
public final class TensorView {
    private final SafetensorsFile file;
    private final String name;
    private final SafeDType dtype;
    private final Shape shape;
    private final long begin;
    private final long end;
    /** Whether this view presents the (2-D) stored matrix transposed. */
    private final boolean transposed;

    TensorView(SafetensorsFile file, String name, SafeDType dtype, Shape shape, long begin, long end) {
        this(file, name, dtype, shape, begin, end, false);
    }

    private TensorView(SafetensorsFile file, String name, SafeDType dtype, Shape shape, long begin, long end,
            boolean transposed) {
        this.file = file;
        this.name = name;
        this.dtype = dtype;
        this.shape = shape;
        this.begin = begin;
        this.end = end;
        this.transposed = transposed;
    }

    /**
     * The stored (a, b) matrix presented as its transpose (b, a), e.g. OpenCLIP's {@code text_projection}
     * (applied as {@code x @ P}) as transformers' {@code text_projection.weight} (applied as {@code x @ W^T}).
     * {@link #toNDArray} returns a contiguous copy.
     *
     * @param newName name of the new view (for messages)
     * @return the transposed view
     * @throws IllegalArgumentException for a tensor that is not 2-D
     */
    public TensorView transposed(String newName) {
        if (shape.dimension() != 2 || transposed) {
            throw new IllegalArgumentException("cannot transpose " + name + " " + shape + ": not a stored 2-D matrix");
        }
        return new TensorView(file, newName, dtype, new Shape(shape.get(1), shape.get(0)), begin, end, true);
    }

    /** @return the tensor's name in its file */
    public String name() {
        return name;
    }

    /** @return the on-disk element type */
    public SafeDType dtype() {
        return dtype;
    }

    /** @return the shape this view presents (the file's shape unless {@link #withShape} changed it) */
    public Shape shape() {
        return shape;
    }

    /** @return the file holding the bytes */
    public SafetensorsFile file() {
        return file;
    }

    /** @return number of bytes of the tensor's data */
    public long byteSize() {
        return end - begin;
    }

    /**
     * The raw little-endian bytes as stored in the file (a read-only memory mapping).
     *
     * @return a buffer positioned at the first byte
     */
    public ByteBuffer bytes() {
        return file.map(begin, end - begin, name).asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * The same bytes seen with another shape of the same element count, e.g. a 1x1 conv weight
     * (out, in, 1, 1) as a linear weight (out, in).
     *
     * @param newShape the shape to present
     * @return a new view
     */
    public TensorView withShape(Shape newShape) {
        requireStored();
        if (newShape.size() != shape.size()) {
            throw new IllegalArgumentException(
                    "cannot view " + name + " " + shape + " as " + newShape + ": element counts differ");
        }
        return new TensorView(file, name, dtype, newShape, begin, end);
    }

    /**
     * A contiguous range of the first dimension, e.g. the query rows of a fused (3·d, d) attention
     * input projection.
     *
     * @param newName name of the new view (for messages)
     * @param from first row
     * @param count number of rows
     * @return a view of those rows
     */
    public TensorView rows(String newName, long from, long count) {
        requireStored();
        long n = shape.get(0);
        if (from < 0 || count <= 0 || from + count > n) {
            throw new IllegalArgumentException("rows " + from + ".." + (from + count) + " out of " + shape + " of " + name);
        }
        long rowBytes = (end - begin) / n;
        long[] s = shape.getShape().clone();
        s[0] = count;
        return new TensorView(file, newName, dtype, new Shape(s), begin + from * rowBytes, begin + (from + count) * rowBytes);
    }

    /**
     * Reads the tensor into a new NDArray.
     *
     * @param manager owner of the returned array
     * @param type element type of the returned array (converted by PyTorch)
     * @param device device of the returned array
     * @return a new array, independent of the file mapping
     * @throws ModelFormatException if the dtype cannot be read
     */
    public NDArray toNDArray(NDManager manager, DataType type, Device device) {
        if (!dtype.isReadable()) {
            throw new ModelFormatException(
                    file.path() + ": tensor " + name + " has dtype " + dtype + ", which this reader does not support");
        }
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("safetensors loading needs a little-endian machine");
        }
        ByteBuffer bytes = file.map(begin, end - begin, name);
        DataType srcType = dtype.djlType();
        if (dtype == SafeDType.BF16) {
            bytes = bf16ToF32(bytes);
            srcType = DataType.FLOAT32;
        }
        try (NDManager tmp = manager.newSubManager(Device.cpu())) {
            // zero-copy view on the mapped bytes; every path below makes a real copy
            NDArray view = transposed
                    // transpose, then flatten (a copy, contiguous) and view with the presented shape
                    ? tmp.create(bytes, new Shape(shape.get(1), shape.get(0)), srcType).transpose().flatten().reshape(shape)
                    : tmp.create(bytes, shape, srcType);
            NDArray out;
            if (device.isGpu()) {
                out = view.toDevice(device, false).toType(type, false); // the transfer copies
            } else if (srcType == type) {
                out = view.duplicate(); // DJL's toDevice(same device, copy=true) does not copy
            } else {
                out = view.toType(type, false);
            }
            out.attach(manager);
            return out;
        }
    }

    private void requireStored() {
        if (transposed) {
            throw new IllegalArgumentException(name + " is a transposed view");
        }
    }

    private static ByteBuffer bf16ToF32(ByteBuffer src) {
        ShortBuffer in = src.order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
        ByteBuffer out = ByteBuffer.allocateDirect(in.remaining() * 4).order(ByteOrder.LITTLE_ENDIAN);
        while (in.hasRemaining()) {
            out.putInt((in.get() & 0xFFFF) << 16);
        }
        return out.flip();
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + shape;
    }
}
