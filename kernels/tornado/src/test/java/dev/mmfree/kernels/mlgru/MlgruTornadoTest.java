package dev.mmfree.kernels.mlgru;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.mmfree.kernels.tornado.TornadoTesting.assertRelL2;
import static dev.mmfree.kernels.tornado.TornadoTesting.floats;
import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;

/**
 * MlgruTornado against MlgruReference over several steps, state kept on the device. Float results:
 * relative L2 error at most {@link #TOL}; the device may fuse a*b + c into one fma (one rounding
 * instead of two), so they are not bit-exact.
 */
class MlgruTornadoTest {
    static final double TOL = 1e-6;
    static final int STEPS = 4;

    @BeforeEach
    void tornado() {
        requireTornado();
    }

    @ParameterizedTest(name = "batch={0} d={1} zeroLb={2}")
    @CsvSource({"1, 1, true", "1, 7, false", "3, 100, false", "1, 1024, true", "2, 2049, false"})
    void stepsMatchReference(int batch, int d, boolean zeroLb) {
        Random rnd = new Random(101L * batch + d);
        float[] lb = new float[d];   // [d] a layer's lower bound in [0, 1); layer 0's is zero
        if (!zeroLb) {
            for (int j = 0; j < d; j++) {
                lb[j] = rnd.nextFloat() * 0.9f;
            }
        }
        float[] gNorm = floats(rnd, d, 1f);
        double eps = 1e-6;
        float[][] stateRef = new float[batch][d];
        try (MlgruTornado kernel = new MlgruTornado(lb, gNorm, batch, eps)) {
            for (int s = 0; s < STEPS; s++) {
                float[] i = floats(rnd, batch * d, 2f);      // [b, d]
                float[] fPre = floats(rnd, batch * d, 2f);   // [b, d]
                float[] g = floats(rnd, batch * d, 2f);      // [b, d]
                float[] oExp = new float[batch * d];
                for (int r = 0; r < batch; r++) {
                    MlgruReference.step(i, fPre, g, r * d, lb, gNorm, eps, stateRef[r], oExp, d);
                }
                float[] o = new float[batch * d];
                kernel.step(i, fPre, g, o);
                assertRelL2("mlgru o, batch " + batch + " d " + d + " step " + s, oExp, o, TOL);
            }
            float[] state = new float[batch * d];
            kernel.readState(state);
            float[] stateExp = new float[batch * d];
            for (int r = 0; r < batch; r++) {
                System.arraycopy(stateRef[r], 0, stateExp, r * d, d);
            }
            assertRelL2("mlgru state after " + STEPS + " steps, batch " + batch + " d " + d, stateExp, state, TOL);
        }
    }
}
