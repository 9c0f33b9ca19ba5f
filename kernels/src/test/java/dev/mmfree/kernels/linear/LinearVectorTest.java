package dev.mmfree.kernels.linear;

import dev.mmfree.kernels.Checks;
import dev.mmfree.runtime.cpu.CpuPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

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

    /** Every half bit pattern but infinities and NaNs widens exactly. */
    @Test
    void halfWideningIsExactForEveryFiniteHalf() {
        int n = 1 << 16;
        short[] h = new short[n];
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            h[i] = (short) i;
        }
        for (int j = 0; j < n; j += LinearVector.LANES) {
            LinearVector.halfToFloat(jdk.incubator.vector.ShortVector.fromArray(LinearVector.H, h, j), 0).intoArray(x, j);
        }
        for (int i = 0; i < n; i++) {
            float expected = Float.float16ToFloat(h[i]);
            if (Float.isFinite(expected) && Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(x[i])) {
                throw new AssertionError("half 0x" + Integer.toHexString(i) + ": expected " + expected + ", got " + x[i]);
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
