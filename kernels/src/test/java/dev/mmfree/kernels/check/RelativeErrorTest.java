package dev.mmfree.kernels.check;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RelativeErrorTest {
    @Test
    void isTheNormOfTheDifferenceOverTheReferenceNorm() {
        float[] ref = {3, 4, 100};
        float[] got = {3, 4.5f, -7};
        // over [0, 2): ||(0, 0.5)|| / ||(3, 4)|| = 0.5 / 5
        assertEquals(0.1, RelativeError.l2(got, ref, 0, 2), 1e-12);
        assertEquals(0.0, RelativeError.l2(ref, ref), 0.0);
        assertEquals(Math.sqrt(0.25 + 107.0 * 107.0) / Math.sqrt(10025.0), RelativeError.l2(got, ref), 1e-12);
    }

    @Test
    void nonFiniteValuesAreNaNNotASmallError() {
        assertTrue(Double.isNaN(RelativeError.l2(new float[]{1, Float.NaN}, new float[]{1, 1})));
        assertTrue(Double.isNaN(RelativeError.l2(new float[]{Float.POSITIVE_INFINITY}, new float[]{1})));
    }
}
