package dev.mmfree.kernels.mlgru;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Two MLGRU steps against the spec's equations evaluated in double. */
class MlgruReferenceTest {
    @Test
    void twoStepsFollowTheSpec() {
        int d = 7;
        Random rnd = new Random(11);
        float[] lb = new float[d];
        float[] gNorm = new float[d];
        for (int j = 0; j < d; j++) {
            lb[j] = rnd.nextFloat();
            gNorm[j] = 0.5f + rnd.nextFloat();
        }
        float[] state = new float[d];
        double[] expectedState = new double[d];
        for (int step = 0; step < 2; step++) {
            float[] i = gaussian(rnd, d);
            float[] f = gaussian(rnd, d);
            float[] g = gaussian(rnd, d);
            float[] o = new float[d];
            MlgruReference.step(i, f, g, 0, lb, gNorm, 1e-6, state, o, d);
            double ms = 0;
            for (float v : g) {
                ms += (double) v * v / d;
            }
            for (int j = 0; j < d; j++) {
                double gate = lb[j] + (1 - lb[j]) / (1 + Math.exp(-f[j]));
                double siluI = i[j] / (1 + Math.exp(-i[j]));
                expectedState[j] = gate * expectedState[j] + siluI * (1 - gate);
                double siluS = expectedState[j] / (1 + Math.exp(-expectedState[j]));
                double expectedO = g[j] / Math.sqrt(ms + 1e-6) * gNorm[j] * siluS;
                assertEquals(expectedState[j], state[j], 1e-6, "state[" + j + "] at step " + step);
                assertEquals(expectedO, o[j], 1e-6, "o[" + j + "] at step " + step);
            }
        }
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] v = new float[n];
        for (int k = 0; k < n; k++) {
            v[k] = (float) rnd.nextGaussian();
        }
        return v;
    }
}
