package dev.mmfree.kernels.rmsnormquant;

import dev.mmfree.kernels.Checks;
import dev.mmfree.runtime.cpu.CpuPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.Random;

/**
 * RmsNormQuantVector against RmsNormQuantReference: codes, factors and norms identical (the same
 * float operations; only the double sum of squares is reordered, which moves no float here).
 */
class RmsNormQuantVectorTest {
    private static final CpuPool POOL = new CpuPool(2);

    @AfterAll
    static void closePool() {
        POOL.close();
    }

    @ParameterizedTest(name = "d={0} rows={1}")
    @CsvSource({"3, 1", "100, 1", "257, 5", "1000, 2", "2560, 1", "2560, 20", "6912, 3"})
    void normQuantizeMatchesReference(int d, int rows) {
        Random rnd = new Random(d * 17L + rows);
        float[] x = Checks.gaussian(rnd, rows * d, 3f);
        float[] w = Checks.gaussian(rnd, d, 1f);
        byte[] expectedQ = new byte[rows * d];
        float[] expectedF = new float[rows];
        float[] scratch = new float[d];
        for (int r = 0; r < rows; r++) {
            expectedF[r] = RmsNormQuantReference.normQuantize(x, r * d, w, expectedQ, r * d, d, scratch);
        }
        byte[] q = new byte[rows * d];
        Arrays.fill(q, (byte) 99);
        float[] factor = Checks.poisoned(rows);
        float[] f = new float[rows];
        RmsNormQuantVector.normQuantize(POOL, x, rows, d, w, q, f);
        System.arraycopy(f, 0, factor, Checks.MARGIN, rows);
        Checks.assertSameBytes("normQuantize codes d " + d, expectedQ, 0, q, 0, rows * d);
        Checks.assertSameFloats("normQuantize factors d " + d, expectedF, 0, factor, Checks.MARGIN, rows);
    }

    @ParameterizedTest(name = "d={0} rows={1} parts={2}")
    @CsvSource({"3, 1, 1", "100, 2, 3", "1000, 1, 3", "2560, 1, 3", "2560, 17, 1", "257, 33, 2"})
    void doubleNormMatchesReference(int d, int rows, int parts) {
        double eps = 1e-5;
        Random rnd = new Random(d * 31L + rows * 7L + parts);
        float[] x = Checks.gaussian(rnd, rows * d, 0.5f);
        float[] outer = Checks.gaussian(rnd, d, 1f);
        float[][] partW = new float[parts][];
        for (int p = 0; p < parts; p++) {
            partW[p] = Checks.gaussian(rnd, d, 1f);
        }
        float[] expectedH = new float[rows * d];
        byte[] expectedQ = new byte[parts * rows * d];
        float[] expectedF = new float[parts * rows];
        float[] scratch = new float[d];
        for (int r = 0; r < rows; r++) {
            RmsNormQuantReference.rmsNorm(x, r * d, outer, expectedH, r * d, d, eps);
            for (int p = 0; p < parts; p++) {
                expectedF[p * rows + r] = RmsNormQuantReference.normQuantize(expectedH, r * d, partW[p], expectedQ, (p * rows + r) * d, d, scratch);
            }
        }
        float[] h = new float[rows * d];
        Arrays.fill(h, Float.NaN);
        byte[] q = new byte[parts * rows * d];
        Arrays.fill(q, (byte) 99);
        float[] f = new float[parts * rows];
        Arrays.fill(f, Float.NaN);
        RmsNormQuantVector.normNormQuantize(POOL, x, rows, d, outer, eps, partW, h, q, f);
        Checks.assertSameFloats("double norm h", expectedH, 0, h, 0, rows * d);
        Checks.assertSameBytes("double norm codes", expectedQ, 0, q, 0, parts * rows * d);
        Checks.assertSameFloats("double norm factors", expectedF, 0, f, 0, parts * rows);
    }

    @ParameterizedTest(name = "d={0} rows={1}")
    @CsvSource({"3, 1", "257, 4", "2560, 18"})
    void rmsNormMatchesReference(int d, int rows) {
        Random rnd = new Random(d + 1000L * rows);
        float[] x = Checks.gaussian(rnd, rows * d, 2f);
        float[] w = Checks.gaussian(rnd, d, 1f);
        float[] expected = new float[rows * d];
        for (int r = 0; r < rows; r++) {
            RmsNormQuantReference.rmsNorm(x, r * d, w, expected, r * d, d, 1e-6);
        }
        float[] out = new float[rows * d];
        Arrays.fill(out, Float.NaN);
        RmsNormQuantVector.rmsNorm(POOL, x, rows, d, w, 1e-6, out);
        Checks.assertSameFloats("rmsNorm", expected, 0, out, 0, rows * d);
        RmsNormQuantVector.rmsNorm(POOL, x, rows, d, w, 1e-6, x);
        Checks.assertSameFloats("rmsNorm in place", expected, 0, x, 0, rows * d);
    }

    @Test
    void zeroRowUsesTheAmaxFloor() {
        int d = 77;
        float[] x = new float[d];
        float[] w = new float[d];
        Arrays.fill(w, 1f);
        byte[] q = new byte[d];
        Arrays.fill(q, (byte) 5);
        float f = RmsNormQuantVector.normQuantize(x, 0, w, q, 0, d);
        byte[] expectedQ = new byte[d];
        float expectedF = RmsNormQuantReference.normQuantize(x, 0, w, expectedQ, 0, d, new float[d]);
        Checks.assertSameBytes("zero row codes", expectedQ, 0, q, 0, d);
        Checks.assertSameFloats("zero row factor", new float[]{expectedF}, 0, new float[]{f}, 0, 1);
    }
}
