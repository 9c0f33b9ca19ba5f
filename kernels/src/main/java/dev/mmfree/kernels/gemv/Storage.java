package dev.mmfree.kernels.gemv;

/**
 * How the Transformer++ baseline stores its matrices and KV cache on an OpenCL device. Math is float32
 * either way; {@link #F16} halves the bytes read per token (fp16 storage only: NVIDIA OpenCL has no
 * cl_khr_fp16, so values are converted by vload_half / vstore_half), {@link #F32} keeps the checkpoint's
 * float32 values exactly.
 */
public enum Storage {
    F16("f16", 2),
    F32("f32", 4);

    private final String suffix;
    private final int bytes;

    Storage(String suffix, int bytes) {
        this.suffix = suffix;
        this.bytes = bytes;
    }

    /** The kernel-name part: {@code gemv_f16_f32}. */
    public String suffix() {
        return suffix;
    }

    public int bytes() {
        return bytes;
    }

    /** The value this storage keeps for v (fp16: rounded to nearest even). */
    public float round(float v) {
        return this == F16 ? Float.float16ToFloat(Float.floatToFloat16(v)) : v;
    }
}
