package dev.mmfree.kernels.linear;

import dev.mmfree.kernels.Checks;
import dev.mmfree.runtime.cpu.CpuPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * LinearVector against LinearReference (double sums): float32 sums within 2e-6 relative L2. For
 * float16 storage the reference gets the same weights rounded to half, so only the sum order differs.
 */
class LinearVectorTest {
    private static final CpuPool POOL = new CpuPool(3);
    private static final double TOL = 2e-6;

    @AfterAll
    static void closePool() {
        POOL.close();
    }

    @ParameterizedTest(name = "{0} in={1} out={2} rows={3} parts={4} accumulate={5}")
    @CsvSource({
            "F32, 100, 3, 1, 1, false", "F32, 1000, 257, 1, 2, true", "F32, 100, 257, 5, 1, false", "F32, 2560, 40, 3, 3, true",
            "F32, 24, 7, 37, 1, false", "F32, 7, 5, 2, 1, false",
            "F16, 100, 3, 1, 1, false", "F16, 1000, 257, 1, 2, true", "F16, 100, 257, 5, 1, false", "F16, 2560, 40, 3, 3, true",
            "F16, 24, 7, 37, 1, false", "F16, 7, 5, 2, 1, false",
    })
    void matchesReference(LinearVector.Storage storage, int in, int out, int rows, int parts, boolean accumulate) {
        Random rnd = new Random(in * 31L + out * 7L + rows + parts * 1000L + storage.ordinal());
        float[][] w = new float[parts][];
        int total = 0;
        for (int p = 0; p < parts; p++) {
            w[p] = Checks.gaussian(rnd, (out + p) * in, 0.05f);
            total += out + p;
        }
        float[] x = Checks.gaussian(rnd, rows * in, 1f);
        float[] base = Checks.gaussian(rnd, rows * total, 1f);
        float[] expected = accumulate ? base.clone() : new float[rows * total];
        int col = 0;
        for (int p = 0; p < parts; p++) {
            int o = out + p;
            float[] wr = storage == LinearVector.Storage.F32 ? w[p] : roundedToHalf(w[p]);
            float[] y = new float[o];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(expected, r * total + col, y, 0, o);
                LinearReference.forward(wr, o, in, x, r * in, y, 0, accumulate);
                System.arraycopy(y, 0, expected, r * total + col, o);
            }
            col += o;
        }
        float[] actual = Checks.poisoned(rows * total);
        if (accumulate) {
            System.arraycopy(base, 0, actual, Checks.MARGIN, base.length);
        }
        LinearVector k = new LinearVector(POOL, storage, in, w);
        assertEquals(total, k.out());
        k.forward(x, 0, rows, actual, Checks.MARGIN, accumulate);
        Checks.assertGuards("linear", actual, rows * total);
        Checks.assertRelL2("linear " + storage + " [" + total + ", " + in + "] rows " + rows, expected, 0, actual, Checks.MARGIN, rows * total, TOL);
    }

    /**
     * Every finite half widens exactly in the kernel's loops: row i holds half i in column i % in,
     * zeros elsewhere, x is all ones, so y[r, i] is that half (a zero may lose its sign in the sum).
     * Rows 1 (the t = 1 loops) and 4 (the 4 x 4 blocks over rows widened into the scratch).
     */
    @ParameterizedTest(name = "rows={0}")
    @ValueSource(ints = {1, 4})
    void halfWideningIsExactForEveryFiniteHalf(int rows) {
        int in = 2 * LinearVector.LANES;
        int n = 1 << 16;
        float[] w = new float[n * in];
        for (int i = 0; i < n; i++) {
            float h = Float.float16ToFloat((short) i);
            w[i * in + i % in] = Float.isFinite(h) ? h : 0f;
        }
        float[] x = new float[rows * in];
        java.util.Arrays.fill(x, 1f);
        float[] y = new float[rows * n];
        new LinearVector(POOL, LinearVector.Storage.F16, in, w).forward(x, 0, rows, y, 0, false);
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < n; i++) {
                float expected = w[i * in + i % in];
                float got = y[r * n + i];
                if (expected == 0f ? got != 0f : Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(got)) {
                    throw new AssertionError("row " + r + ", half 0x" + Integer.toHexString(i) + ": expected " + expected + ", got " + got);
                }
            }
        }
    }

    @Test
    void refusesWeightsWithNoFiniteHalf() {
        assertThrows(dev.mmfree.runtime.MmfreeException.class,
                () -> new LinearVector(POOL, LinearVector.Storage.F16, 2, new float[]{1f, 70000f}));
    }

    private static float[] roundedToHalf(float[] w) {
        float[] r = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            r[i] = Float.float16ToFloat(Float.floatToFloat16(w[i]));
        }
        return r;
    }
}
