package dev.mmfree.kernels.tornado;

import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.Int8Array;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Copies between heap arrays and TornadoVM's off-heap arrays (whole arrays, lengths checked). */
public final class HostCopies {
    private HostCopies() {
    }

    public static void copy(String what, byte[] src, Int8Array dst) {
        check(what, src.length, dst.getSize());
        MemorySegment.copy(src, 0, dst.getSegment(), ValueLayout.JAVA_BYTE, 0, src.length);
    }

    public static void copy(String what, float[] src, FloatArray dst) {
        check(what, src.length, dst.getSize());
        MemorySegment.copy(src, 0, dst.getSegment(), ValueLayout.JAVA_FLOAT, 0, src.length);
    }

    public static void copy(String what, FloatArray src, float[] dst) {
        check(what, dst.length, src.getSize());
        MemorySegment.copy(src.getSegment(), ValueLayout.JAVA_FLOAT, 0, dst, 0, dst.length);
    }

    public static void copy(String what, Int8Array src, byte[] dst) {
        check(what, dst.length, src.getSize());
        MemorySegment.copy(src.getSegment(), ValueLayout.JAVA_BYTE, 0, dst, 0, dst.length);
    }

    private static void check(String what, long actual, long expected) {
        if (actual != expected) {
            throw new IllegalArgumentException(what + " length " + actual + " != " + expected);
        }
    }

    /** src[0, n) into dst[0, n): a partial upload, n at most dst's size. */
    public static void copyPrefix(String what, float[] src, FloatArray dst) {
        if (src.length > dst.getSize()) {
            throw new IllegalArgumentException(what + " length " + src.length + " > the " + dst.getSize() + " allocated");
        }
        MemorySegment.copy(src, 0, dst.getSegment(), ValueLayout.JAVA_FLOAT, 0, src.length);
    }

    /** dst.length values of src from element {@code from} on (one row of a [rows, n] array). */
    public static void copyOut(String what, FloatArray src, long from, float[] dst) {
        if (from < 0 || from + dst.length > src.getSize()) {
            throw new IllegalArgumentException(what + ": [" + from + ", " + (from + dst.length) + ") is outside [0, " + src.getSize() + ")");
        }
        MemorySegment.copy(src.getSegment(), ValueLayout.JAVA_FLOAT, from * Float.BYTES, dst, 0, dst.length);
    }
}
