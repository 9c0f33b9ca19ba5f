package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.mmfree.kernels.tornado.TornadoTesting.assertBitExact;
import static dev.mmfree.kernels.tornado.TornadoTesting.assertRelL2;
import static dev.mmfree.kernels.tornado.TornadoTesting.floats;
import static dev.mmfree.kernels.tornado.TornadoTesting.int8;
import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;
import static dev.mmfree.kernels.tornado.TornadoTesting.ternary;

/**
 * BitLinearTornado against BitLinearReference. Overwriting, the outputs are bit-exact (same integer
 * sums, same two float multiplies). Accumulating, TornadoVM fuses out + sum * factor into one fma (one
 * rounding instead of two), so those are held to a relative L2 error of {@link #ACCUMULATE_TOL}.
 * Each case calls the graph twice with fresh inputs (the weights stay on the device).
 */
class BitLinearTornadoTest {
    static final double ACCUMULATE_TOL = 1e-7;

    @BeforeEach
    void tornado() {
        requireTornado();
    }

    @ParameterizedTest(name = "[{0}, {1}] rows={2} accumulate={3}")
    @CsvSource({
            "1, 1, 1, false",
            "7, 33, 1, false",
            "64, 16, 1, true",
            "37, 100, 3, false",
            "300, 1000, 5, true",
            "1024, 1024, 1, false",
            "96, 2816, 2, false",
    })
    void matchesReference(int out, int in, int rows, boolean accumulate) {
        Random rnd = new Random(31L * out + 7L * in + rows);
        TernaryMatrix w = TernaryMatrix.pack(ternary(rnd, out * in), out, in, 0.01f + rnd.nextFloat());
        try (BitLinearTornado kernel = new BitLinearTornado(w, rows, accumulate)) {
            for (int call = 0; call < 2; call++) {
                byte[] q = int8(rnd, rows * in);               // [rows, in] int8
                float[] factor = floats(rnd, rows, 0.05f);     // [rows]
                float[] expected = accumulate ? floats(rnd, rows * out, 1f) : new float[rows * out];  // [rows, out]
                float[] actual = expected.clone();
                BitLinearReference.forward(w, q, factor, rows, expected, accumulate);
                kernel.forward(q, factor, actual);
                String what = "bitlinear [" + out + ", " + in + "] rows " + rows + " call " + call;
                if (accumulate) {
                    assertRelL2(what, expected, actual, ACCUMULATE_TOL);
                } else {
                    assertBitExact(what, expected, actual);
                }
            }
        }
    }
}
