package dev.mmfree.model.checkpoint;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor's header entry: dtype, shape, and its byte range [begin, end) relative to the start of
 * the file's data section.
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end, Path file) {
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
}
