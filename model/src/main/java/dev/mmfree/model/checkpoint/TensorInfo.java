package dev.mmfree.model.checkpoint;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor's header entry: dtype, shape, and its byte range [begin, end) relative to the start of
 * the file's data section. The shape array is copied in and out, so a record can be shared.
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end, Path file) {
    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long elementCount() {
        long n = 1;
        for (long s : shape) {
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    public long byteSize() {
        return end - begin;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
                && begin == t.begin && end == t.end && file.equals(t.file);
    }

    @Override
    public int hashCode() {
        return 31 * name.hashCode() + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + shapeString() + " @[" + begin + ", " + end + ") in " + file;
    }
}
