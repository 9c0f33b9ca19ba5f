package dev.mmfree.kernels.rmsnormquant;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RmsNormQuantReferenceTest {
    @Test
    void zerosClampTheMaximumTo1e5() {
        byte[] q = new byte[5];
        float factor = RmsNormQuantReference.quantize(new float[5], 0, q, 0, 5);
        assertArrayEquals(new byte[5], q);
        assertEquals(1e-5f / 127, factor, 1e-15f);
    }

    @Test
    void valuesBelowTheClampAreNotStretchedToFullRange() {
        byte[] q = new byte[2];
        // a = 1e-5, so 1e-6 * 127 / 1e-5 = 12.7 -> 13
        RmsNormQuantReference.quantize(new float[]{1e-6f, -2e-6f}, 0, q, 0, 2);
        assertArrayEquals(new byte[]{13, -25}, q);
    }

    @Test
    void theLargestMagnitudeSaturatesAtPlusOrMinus127() {
        byte[] q = new byte[4];
        float factor = RmsNormQuantReference.quantize(new float[]{-3e30f, 3e30f, 1.2e30f, 0f}, 0, q, 0, 4);
        assertArrayEquals(new byte[]{-127, 127, 51, 0}, q);
        assertEquals(3e30f / 127, factor, 3e30f / 127 * 1e-6f);
        Random rnd = new Random(3);
        float[] y = new float[101];
        for (int k = 0; k < y.length; k++) {
            y[k] = (float) rnd.nextGaussian() * 40;
        }
        byte[] big = new byte[101];
        RmsNormQuantReference.quantize(y, 0, big, 0, 101);
        int maxAbs = 0;
        for (byte b : big) {
            assertTrue(b >= -127 && b <= 127, "code " + b);
            maxAbs = Math.max(maxAbs, Math.abs(b));
        }
        assertEquals(127, maxAbs);
    }

    @Test
    void roundsHalfToEven() {
        byte[] q = new byte[5];
        // a = 127, so y * 127 / a = y
        RmsNormQuantReference.quantize(new float[]{127f, 2.5f, 3.5f, -2.5f, 0.5f}, 0, q, 0, 5);
        assertArrayEquals(new byte[]{127, 2, 4, -2, 0}, q);
    }

    @Test
    void quantizesAtAnOffset() {
        float[] y = {99f, 1f, -0.5f, 99f};
        byte[] q = {7, 7, 7, 7};
        RmsNormQuantReference.quantize(y, 1, q, 1, 2);
        assertArrayEquals(new byte[]{7, 127, -64, 7}, q);
    }

    @Test
    void rmsNormOfAHandCase() {
        float[] out = new float[2];
        RmsNormQuantReference.rmsNorm(new float[]{3f, 4f}, 0, new float[]{1f, 2f}, out, 0, 2);
        double inv = 1 / Math.sqrt(12.5 + 1e-6);
        assertEquals(3 * inv, out[0], 1e-6);
        assertEquals(8 * inv, out[1], 1e-6);
        float[] zeros = new float[3];
        RmsNormQuantReference.rmsNorm(zeros, 0, new float[]{1f, 1f, 1f}, zeros, 0, 3, 1e-5);
        assertArrayEquals(new float[3], zeros);
    }
}
