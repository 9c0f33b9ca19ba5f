package dev.mmfree.kernels.mlgru;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.mmfree.kernels.tornado.TornadoTesting.assertRelL2;
import static dev.mmfree.kernels.tornado.TornadoTesting.floats;
import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;

/**
 * MlgruScanTornado against MlgruReference stepped token by token: b sequences in scattered slots of a
 * pool, t tokens per call over two calls (the states carry over on the device), then one sequence
 * restarted in a used slot (its state must be zeroed). Relative L2 error at most {@link #TOL}, as
 * {@code MlgruTornadoTest}: the device may contract a * b + c into an fma.
 */
class MlgruScanTornadoTest {
    static final double TOL = 1e-6;

    @BeforeEach
    void tornado() {
        requireTornado();
    }

    @ParameterizedTest(name = "b={0} t={1} d={2}")
    @CsvSource({"1, 1, 1", "1, 5, 7", "2, 1, 100", "3, 4, 129", "2, 3, 1024"})
    void scanMatchesReferenceSteps(int b, int t, int d) {
        Random rnd = new Random(7919L * b + 31L * t + d);
        int slots = b + 2;
        int[] slotOf = new int[b];   // sequence s lives in slot slots - 1 - 2s mod slots: not the identity
        for (int s = 0; s < b; s++) {
            slotOf[s] = Math.floorMod(slots - 1 - 2 * s, slots);
        }
        float[] lb = new float[d];
        for (int j = 0; j < d; j++) {
            lb[j] = rnd.nextFloat() * 0.9f;
        }
        float[] gNorm = floats(rnd, d, 1f);
        double eps = 1e-6;
        float[][] ref = new float[b][d];   // [b][d] reference states
        try (MlgruScanTornado kernel = new MlgruScanTornado(lb, gNorm, slots, b, b * t, eps)) {
            for (int call = 0; call < 2; call++) {
                boolean[] reset = new boolean[b];
                java.util.Arrays.fill(reset, call == 0);
                float[] pool = runAndCheck(kernel, rnd, slotOf, reset, t, lb, gNorm, eps, ref, "call " + call);
                for (int s = 0; s < b; s++) {
                    float[] got = java.util.Arrays.copyOfRange(pool, slotOf[s] * d, slotOf[s] * d + d);
                    assertRelL2("mlgru scan state, seq " + s + " after call " + call, ref[s], got, TOL);
                }
            }
            // sequence 0 starts over in its old slot: its state must be zero before the first token
            ref[0] = new float[d];
            runAndCheck(kernel, rnd, new int[] {slotOf[0]}, new boolean[] {true}, 1, lb, gNorm, eps, new float[][] {ref[0]}, "restart");
        }
    }

    /** One call of the kernel against the reference stepped over the same rows; returns the state pool. */
    private static float[] runAndCheck(MlgruScanTornado kernel, Random rnd, int[] slotOf, boolean[] reset, int t, float[] lb,
                                       float[] gNorm, double eps, float[][] ref, String what) {
        int b = slotOf.length;
        int d = lb.length;
        float[] i = floats(rnd, b * t * d, 2f);      // [b * t, d]
        float[] fPre = floats(rnd, b * t * d, 2f);   // [b * t, d]
        float[] g = floats(rnd, b * t * d, 2f);      // [b * t, d]
        float[] expected = new float[b * t * d];
        for (int s = 0; s < b; s++) {
            for (int p = 0; p < t; p++) {
                MlgruReference.step(i, fPre, g, (s * t + p) * d, lb, gNorm, eps, ref[s], expected, d);
            }
        }
        float[] o = new float[b * t * d];
        float[] pool = kernel.scan(slotOf, reset, t, i, fPre, g, o, true);
        assertRelL2("mlgru scan o, " + what + ", b " + b + " t " + t + " d " + d, expected, o, TOL);
        return pool;
    }
}
