package dev.mmfree.model.checkpoint;

/** Reads of required tensors: absent or misshapen tensors fail with a message naming the tensor and the source. */
public final class Tensors {
    private Tensors() {
    }

    /** The named tensor as float32, which must exist and have exactly {@code shape}. */
    public static float[] require(TensorSource src, String name, long... shape) {
        if (!src.has(name)) {
            throw new CheckpointException(src.describe() + ": missing tensor '" + name + "'");
        }
        float[] v = src.floats(name, shape);
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        if (v.length != n) {
            throw new CheckpointException(src.describe() + ": tensor '" + name + "' has " + v.length + " values, expected " + n);
        }
        return v;
    }
}
