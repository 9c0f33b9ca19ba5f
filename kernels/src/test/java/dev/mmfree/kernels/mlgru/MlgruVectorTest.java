package dev.mmfree.kernels.mlgru;

import dev.mmfree.kernels.Checks;
import dev.mmfree.runtime.cpu.CpuPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.Random;

/** MlgruVector against MlgruReference, token by token: o and the final state within 1e-5 relative L2 (exp in float). */
class MlgruVectorTest {
    private static final CpuPool POOL = new CpuPool(3);
    private static final double TOL = 1e-5;

    @AfterAll
    static void closePool() {
        POOL.close();
    }

    @ParameterizedTest(name = "d={0} batch={1} t={2} layer0={3}")
    @CsvSource({"3, 1, 1, true", "100, 1, 1, false", "257, 2, 3, false", "1000, 1, 5, true", "2560, 1, 1, false",
            "130, 3, 7, false", "64, 1, 40, false"})
    void matchesReference(int d, int batch, int t, boolean layer0) {
        Random rnd = new Random(d * 7L + batch * 3L + t + (layer0 ? 1 : 0));
        int rows = batch * t;
        float[] ifg = Checks.gaussian(rnd, rows * 3 * d, 2f);
        float[] lb = new float[d];
        if (!layer0) {
            for (int j = 0; j < d; j++) {
                lb[j] = rnd.nextFloat();
            }
        }
        float[] gNorm = Checks.gaussian(rnd, d, 1f);
        float[] state0 = Checks.gaussian(rnd, batch * d, 1f);
        double eps = 1e-6;

        float[] expectedState = state0.clone();
        float[] expectedO = new float[rows * d];
        float[] i = new float[d];
        float[] f = new float[d];
        float[] g = new float[d];
        float[] o = new float[d];
        float[] st = new float[d];
        for (int s = 0; s < batch; s++) {
            System.arraycopy(expectedState, s * d, st, 0, d);
            for (int k = 0; k < t; k++) {
                int r = s * t + k;
                System.arraycopy(ifg, r * 3 * d, i, 0, d);
                System.arraycopy(ifg, r * 3 * d + d, f, 0, d);
                System.arraycopy(ifg, r * 3 * d + 2 * d, g, 0, d);
                MlgruReference.step(i, f, g, 0, lb, gNorm, eps, st, o, d);
                System.arraycopy(o, 0, expectedO, r * d, d);
            }
            System.arraycopy(st, 0, expectedState, s * d, d);
        }

        int stateOff = 5;
        float[] state = new float[stateOff + batch * d + 3];
        Arrays.fill(state, Checks.GUARD);
        System.arraycopy(state0, 0, state, stateOff, batch * d);
        float[] out = new float[rows * d];
        Arrays.fill(out, Float.NaN);
        MlgruVector.scan(POOL, ifg, batch, t, d, lb, gNorm, eps, state, stateOff, out);
        Checks.assertRelL2("mlgru o", expectedO, 0, out, 0, rows * d, TOL);
        Checks.assertRelL2("mlgru state", expectedState, 0, state, stateOff, batch * d, TOL);
        Checks.assertSameFloats("mlgru state guard before", new float[]{Checks.GUARD}, 0, state, stateOff - 1, 1);
        Checks.assertSameFloats("mlgru state guard after", new float[]{Checks.GUARD}, 0, state, stateOff + batch * d, 1);
    }
}
