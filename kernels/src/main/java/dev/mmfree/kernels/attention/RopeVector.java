package dev.mmfree.kernels.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Rotary position embedding with the Vector API: {@link RopeReference#rotate} over hd/2 lanes at a
 * time, the same float operations in the same order (bit-identical). Test: {@code RopeVectorTest}.
 */
public final class RopeVector {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private RopeVector() {
    }

    /** Rotates n heads of a[off ..], each [hd], with cos/sin [hd/2] at csOff. */
    public static void rotate(float[] a, int off, int n, int hd, float[] cos, float[] sin, int csOff) {
        int half = hd / 2;
        int bound = F.loopBound(half);
        for (int h = 0; h < n; h++) {
            int b = off + h * hd;
            int j = 0;
            for (; j < bound; j += F.length()) {
                FloatVector first = FloatVector.fromArray(F, a, b + j);
                FloatVector second = FloatVector.fromArray(F, a, b + half + j);
                FloatVector c = FloatVector.fromArray(F, cos, csOff + j);
                FloatVector s = FloatVector.fromArray(F, sin, csOff + j);
                first.mul(c).sub(second.mul(s)).intoArray(a, b + j);
                second.mul(c).add(first.mul(s)).intoArray(a, b + half + j);
            }
            for (; j < half; j++) {
                float first = a[b + j];
                float second = a[b + half + j];
                a[b + j] = first * cos[csOff + j] - second * sin[csOff + j];
                a[b + half + j] = second * cos[csOff + j] + first * sin[csOff + j];
            }
        }
    }
}
