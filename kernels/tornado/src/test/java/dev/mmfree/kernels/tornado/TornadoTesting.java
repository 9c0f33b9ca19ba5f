package dev.mmfree.kernels.tornado;

import org.junit.jupiter.api.Assumptions;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** What every TornadoVM kernel test shares: the runtime check, random data, and comparisons that print the first differences. */
public final class TornadoTesting {
    private TornadoTesting() {
    }

    /**
     * Skips the test when this JVM was not started the TornadoVM way ({@code @$TORNADOVM_HOME/tornado-argfile});
     * fails it when bailout is on, since a kernel that did not compile would then run as plain Java and pass.
     */
    public static void requireTornado() {
        Assumptions.assumeTrue(System.getProperty("tornado.load.runtime.implementation") != null,
                "TornadoVM is not on this JVM: run with -Ptornado and TORNADOVM_HOME set (docs/tornadovm.md)");
        assertEquals("false", String.valueOf(System.getProperty("tornado.recover.bailout")).toLowerCase(),
                "run with -Dtornado.recover.bailout=False, or a kernel that fails to compile passes as plain Java");
    }

    public static float[] floats(Random rnd, int n, float scale) {
        float[] v = new float[n];
        for (int k = 0; k < n; k++) {
            v[k] = (float) rnd.nextGaussian() * scale;
        }
        return v;
    }

    public static byte[] int8(Random rnd, int n) {
        byte[] v = new byte[n];
        for (int k = 0; k < n; k++) {
            v[k] = (byte) (rnd.nextInt(256) - 128);
        }
        return v;
    }

    /** Ternary values in {-1, 0, 1}, about a third each. */
    public static byte[] ternary(Random rnd, int n) {
        byte[] v = new byte[n];
        for (int k = 0; k < n; k++) {
            v[k] = (byte) (rnd.nextInt(3) - 1);
        }
        return v;
    }

    public static void assertBitExact(String what, byte[] expected, byte[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int k = 0; k < expected.length; k++) {
            if (expected[k] != actual[k]) {
                fail(what + ": first difference at " + k + ": expected " + expected[k] + ", got " + actual[k]
                        + " (" + countDiffs(expected, actual) + " of " + expected.length + " differ)");
            }
        }
    }

    public static void assertBitExact(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int k = 0; k < expected.length; k++) {
            if (Float.floatToIntBits(expected[k]) != Float.floatToIntBits(actual[k])) {
                fail(what + ": first difference at " + k + ": expected " + expected[k] + ", got " + actual[k]);
            }
        }
    }

    /** Relative L2 error ||a - e|| / ||e|| at most tol; on failure prints the first value off by more than tol relative to max|e|. */
    public static void assertRelL2(String what, float[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double num = 0;
        double den = 0;
        double maxAbs = 0;
        for (int k = 0; k < expected.length; k++) {
            double d = (double) actual[k] - expected[k];
            num += d * d;
            den += (double) expected[k] * expected[k];
            maxAbs = Math.max(maxAbs, Math.abs(expected[k]));
        }
        double rel = Math.sqrt(num / Math.max(den, Double.MIN_NORMAL));
        if (!(rel <= tol)) {
            int first = 0;
            for (int k = 0; k < expected.length; k++) {
                if (!(Math.abs((double) actual[k] - expected[k]) <= tol * maxAbs)) {
                    first = k;
                    break;
                }
            }
            fail(what + ": relative L2 error " + rel + " > " + tol + "; first large difference at " + first
                    + ": expected " + expected[first] + ", got " + actual[first]);
        }
    }

    private static int countDiffs(byte[] a, byte[] b) {
        int n = 0;
        for (int k = 0; k < a.length; k++) {
            n += a[k] != b[k] ? 1 : 0;
        }
        return n;
    }
}
