package dev.mmfree.kernels.swiglu;

import dev.mmfree.kernels.Checks;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.runtime.cpu.CpuPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SwiGluVector against SwiGluReference. Float outputs within 1e-6 relative L2 (exp in float against
 * the reference's double); the fused quantizer's codes may then differ by one step where p sits on
 * a rounding boundary, so codes are checked within +-1 and on at most 1% of the values.
 */
class SwiGluVectorTest {
    private static final CpuPool POOL = new CpuPool(2);
    private static final double TOL = 1e-6;

    @AfterAll
    static void closePool() {
        POOL.close();
    }

    @ParameterizedTest(name = "n={0} rows={1}")
    @CsvSource({"3, 1", "100, 2", "257, 1", "1000, 3", "6912, 1", "300, 17"})
    void matchesReference(int n, int rows) {
        Random rnd = new Random(n * 13L + rows);
        float[] gateUp = Checks.gaussian(rnd, rows * 2 * n, 4f);
        gateUp[0] = -120f;
        gateUp[Math.min(1, n - 1)] = 95f;
        float[] w = Checks.gaussian(rnd, n, 1f);
        float[] expected = new float[rows * n];
        byte[] expectedQ = new byte[rows * n];
        float[] expectedF = new float[rows];
        for (int r = 0; r < rows; r++) {
            SwiGluReference.apply(gateUp, r * 2 * n, gateUp, r * 2 * n + n, expected, r * n, n);
            expectedF[r] = RmsNormQuantReference.normQuantize(expected, r * n, w, expectedQ, r * n, n, new float[n]);
        }
        float[] p = Checks.poisoned(rows * n);
        float[] pOut = new float[rows * n];
        java.util.Arrays.fill(pOut, Float.NaN);
        SwiGluVector.apply(POOL, gateUp, rows, n, pOut);
        System.arraycopy(pOut, 0, p, Checks.MARGIN, rows * n);
        Checks.assertRelL2("swiglu n " + n, expected, 0, p, Checks.MARGIN, rows * n, TOL);

        byte[] q = new byte[rows * n];
        float[] factor = new float[rows];
        java.util.Arrays.fill(pOut, Float.NaN);
        SwiGluVector.applyNormQuantize(POOL, gateUp, rows, n, w, pOut, q, factor);
        Checks.assertRelL2("swiglu fused p", expected, 0, pOut, 0, rows * n, TOL);
        Checks.assertRelL2("swiglu fused factors", expectedF, 0, factor, 0, rows, TOL);
        int off = 0;
        for (int i = 0; i < rows * n; i++) {
            int diff = Math.abs(q[i] - expectedQ[i]);
            assertTrue(diff <= 1, "code " + i + ": expected " + expectedQ[i] + ", got " + q[i]);
            off += diff;
        }
        assertTrue(off <= Math.max(1, rows * n / 100), off + " of " + rows * n + " codes off by one");
    }
}
