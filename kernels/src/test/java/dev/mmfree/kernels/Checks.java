package dev.mmfree.kernels;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.fail;

/** Comparisons for kernel tests: exact for integers and same-order float math, relative L2 otherwise. */
public final class Checks {
    /** Sentinel written around outputs: a kernel that writes out of bounds changes it. */
    public static final float GUARD = -7.77e30f;
    public static final int MARGIN = 37;

    private Checks() {
    }

    /** A float array of n values plus {@link #MARGIN} guards on each side, the values NaN (poisoned). */
    public static float[] poisoned(int n) {
        float[] a = new float[n + 2 * MARGIN];
        java.util.Arrays.fill(a, GUARD);
        java.util.Arrays.fill(a, MARGIN, MARGIN + n, Float.NaN);
        return a;
    }

    public static void assertGuards(String what, float[] guarded, int n) {
        for (int i = 0; i < guarded.length; i++) {
            if ((i < MARGIN || i >= MARGIN + n) && Float.floatToRawIntBits(guarded[i]) != Float.floatToRawIntBits(GUARD)) {
                fail(what + ": wrote outside its output at guard index " + (i - MARGIN) + " (n = " + n + "): " + guarded[i]);
            }
        }
    }

    /** Bit-identical floats (same operations in the same order). */
    public static void assertSameFloats(String what, float[] expected, int eOff, float[] actual, int aOff, int n) {
        for (int i = 0; i < n; i++) {
            if (Float.floatToIntBits(expected[eOff + i]) != Float.floatToIntBits(actual[aOff + i])) {
                fail(what + ": first difference at " + i + " of " + n + ": expected " + expected[eOff + i] + ", got " + actual[aOff + i]
                        + firstDiffs(expected, eOff, actual, aOff, n));
            }
        }
    }

    public static void assertSameBytes(String what, byte[] expected, int eOff, byte[] actual, int aOff, int n) {
        for (int i = 0; i < n; i++) {
            if (expected[eOff + i] != actual[aOff + i]) {
                fail(what + ": first difference at " + i + " of " + n + ": expected " + expected[eOff + i] + ", got " + actual[aOff + i]);
            }
        }
    }

    /** ||actual - expected|| / ||expected|| <= tol, and no NaN or infinity in actual. */
    public static void assertRelL2(String what, float[] expected, int eOff, float[] actual, int aOff, int n, double tol) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < n; i++) {
            float a = actual[aOff + i];
            if (!Float.isFinite(a)) {
                fail(what + ": non-finite value " + a + " at " + i + " of " + n);
            }
            double d = a - expected[eOff + i];
            num += d * d;
            den += (double) expected[eOff + i] * expected[eOff + i];
        }
        double rel = Math.sqrt(num / Math.max(den, 1e-300));
        if (!(rel <= tol)) {
            fail(what + ": relative L2 error " + rel + " > " + tol + firstDiffs(expected, eOff, actual, aOff, n));
        }
    }

    private static String firstDiffs(float[] e, int eOff, float[] a, int aOff, int n) {
        StringBuilder sb = new StringBuilder("; first differing values (index: expected, actual):");
        int shown = 0;
        for (int i = 0; i < n && shown < 5; i++) {
            if (Float.floatToIntBits(e[eOff + i]) != Float.floatToIntBits(a[aOff + i])) {
                sb.append(' ').append(i).append(": ").append(e[eOff + i]).append(", ").append(a[aOff + i]).append(';');
                shown++;
            }
        }
        return sb.toString();
    }

    public static float[] gaussian(Random rnd, int n, float sd) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian() * sd;
        }
        return a;
    }

    public static byte[] int8(Random rnd, int n) {
        byte[] a = new byte[n];
        for (int i = 0; i < n; i++) {
            a[i] = (byte) (rnd.nextInt(256) - 128);
        }
        return a;
    }
}
