package dev.mmfree.model.checkpoint;

/** The safetensors dtypes this project reads, with their element sizes. */
public enum DType {
    F32(4), F16(2), BF16(2), I64(8), I32(4), I8(1), U8(1);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    /** Whether values of this dtype can be read as floats (weights). */
    public boolean isFloat() {
        return this == F32 || this == F16 || this == BF16;
    }
}
