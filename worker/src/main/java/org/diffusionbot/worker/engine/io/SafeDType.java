package org.diffusionbot.worker.engine.io;

import ai.djl.ndarray.types.DataType;

/** The dtypes a safetensors header may name, with their element sizes. */
public enum SafeDType {
    BOOL(1, DataType.BOOLEAN),
    U8(1, DataType.UINT8),
    I8(1, DataType.INT8),
    I16(2, null),
    U16(2, null),
    F16(2, DataType.FLOAT16),
    BF16(2, null), // decoded in Java: creating a bfloat16 tensor crashes the DJL 0.35.1 PyTorch JNI
    I32(4, DataType.INT32),
    U32(4, null),
    F32(4, DataType.FLOAT32),
    F64(8, DataType.FLOAT64),
    I64(8, DataType.INT64),
    U64(8, null),
    F8_E4M3(1, null),
    F8_E5M2(1, null);

    private final int bytes;
    private final DataType djlType;

    SafeDType(int bytes, DataType djlType) {
        this.bytes = bytes;
        this.djlType = djlType;
    }

    /** @return bytes per element */
    public int bytes() {
        return bytes;
    }

    /** @return whether tensors of this dtype can be converted to NDArrays */
    public boolean isReadable() {
        return djlType != null || this == BF16;
    }

    /** @return the DJL type the raw bytes are handed to PyTorch as, or null */
    DataType djlType() {
        return djlType;
    }

    /**
     * @param name the header's dtype string
     * @return the dtype, or null when unknown
     */
    static SafeDType parse(String name) {
        for (SafeDType t : values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        return null;
    }
}
