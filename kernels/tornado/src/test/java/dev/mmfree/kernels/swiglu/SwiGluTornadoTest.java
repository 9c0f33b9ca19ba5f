package dev.mmfree.kernels.swiglu;

import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.mmfree.kernels.tornado.TornadoTesting.assertBitExact;
import static dev.mmfree.kernels.tornado.TornadoTesting.floats;
import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;

/** SwiGluTornado against SwiGluReference then RmsNormQuantReference.normQuantize: codes and factors bit-exact. */
class SwiGluTornadoTest {
    @BeforeEach
    void tornado() {
        requireTornado();
    }

    @ParameterizedTest(name = "rows={0} n={1}")
    @CsvSource({"1, 1", "1, 9", "3, 130", "1, 2816", "2, 5632"})
    void matchesReference(int rows, int n) {
        Random rnd = new Random(7L * rows + n);
        float[] w = floats(rnd, n, 1f);
        try (SwiGluTornado kernel = new SwiGluTornado(w, rows, RmsNormQuantReference.EPS)) {
            for (int call = 0; call < 2; call++) {
                float[] gateUp = floats(rnd, rows * 2 * n, 3f);   // [rows, 2n]: [gate | up]
                byte[] qExp = new byte[rows * n];
                float[] fExp = new float[rows];
                float[] y = new float[n];
                float[] scratch = new float[n];
                for (int r = 0; r < rows; r++) {
                    SwiGluReference.apply(gateUp, r * 2 * n, gateUp, r * 2 * n + n, y, 0, n);
                    fExp[r] = RmsNormQuantReference.normQuantize(y, 0, w, qExp, r * n, n, scratch);
                }
                byte[] q = new byte[rows * n];
                float[] f = new float[rows];
                kernel.apply(gateUp, q, f);
                String what = "swiglu rows " + rows + " n " + n + " call " + call;
                assertBitExact(what + " q", qExp, q);
                assertBitExact(what + " factor", fExp, f);
            }
        }
    }
}
