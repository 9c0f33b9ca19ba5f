package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ternary accumulate against a double computation on dequantized weights and activations. */
class BitLinearReferenceTest {
    /** Float32 rounding of the final product only: the sum itself is exact. */
    private static final double TOLERANCE = 1e-6;

    @ParameterizedTest(name = "out {0}, in {1}, rows {2}")
    @CsvSource({"1, 1, 1", "7, 33, 1", "13, 50, 3", "64, 64, 1", "5, 16, 2", "3, 17, 4", "40, 127, 5"})
    void matchesDequantizedFloatComputation(int out, int in, int rows) {
        Random rnd = new Random(1000L * out + 10L * in + rows);
        byte[] t = new byte[out * in];
        for (int k = 0; k < t.length; k++) {
            t[k] = (byte) (rnd.nextInt(3) - 1);
        }
        float s = 0.01f + rnd.nextFloat();
        TernaryMatrix w = TernaryMatrix.pack(t, out, in, s);
        byte[] q = new byte[rows * in];
        rnd.nextBytes(q);
        float[] factor = new float[rows];
        for (int r = 0; r < rows; r++) {
            factor[r] = (0.1f + rnd.nextFloat()) / 127;
        }
        float[] base = new float[rows * out];
        for (int k = 0; k < base.length; k++) {
            base[k] = rnd.nextFloat() - 0.5f;
        }
        float[] y = new float[rows * out];
        BitLinearReference.forward(w, q, factor, rows, y, false);
        float[] acc = base.clone();
        BitLinearReference.forward(w, q, factor, rows, acc, true);

        double[] expected = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double sum = 0;
                int intSum = 0;
                for (int i = 0; i < in; i++) {
                    sum += (double) s * t[o * in + i] * (q[r * in + i] * (double) factor[r]);
                    intSum += t[o * in + i] * q[r * in + i];
                }
                assertEquals(intSum, BitLinearReference.dot(w, o, q, r * in), "integer dot at row " + r + ", out " + o);
                expected[r * out + o] = sum;
            }
        }
        assertClose(expected, y, null);
        assertClose(expected, acc, base);
    }

    private static void assertClose(double[] expected, float[] got, float[] base) {
        double diff = 0;
        double norm = 0;
        int first = -1;
        for (int k = 0; k < expected.length; k++) {
            double e = expected[k] + (base == null ? 0 : base[k]);
            diff += (got[k] - e) * (got[k] - e);
            norm += e * e;
            if (first < 0 && Math.abs(got[k] - e) > 1e-5 * Math.max(1, Math.abs(e))) {
                first = k;
            }
        }
        double rel = Math.sqrt(diff / Math.max(norm, 1e-30));
        int at = Math.max(first, 0);
        assertTrue(rel <= TOLERANCE, "rel L2 " + rel + " (accumulate " + (base != null) + "); first difference at " + at
                + ": got " + got[at] + ", expected " + (expected[at] + (base == null ? 0 : base[at])));
    }
}
