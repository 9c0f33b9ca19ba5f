package dev.mmfree.model.train;

import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.mmfree.model.train.GradCheck.assertClose;
import static dev.mmfree.model.train.GradCheck.dot;
import static dev.mmfree.model.train.GradCheck.gaussian;
import static dev.mmfree.model.train.GradCheck.numeric;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * BitLinear's backward: against finite differences with quantization off (rel L2 < {@link GradCheck#TOLERANCE}),
 * VANILLA and FUSED bit-identical in double, and with quantization on the straight-through paths.
 */
class BitLinearOpTest {
    private record Case(Param w, Param norm, double[] x, double[] dy) {
    }

    private static Case newCase(int n, int in, int out, long seed) {
        Random rnd = new Random(seed);
        Param w = new Param("w", gaussian(rnd, out * in, 0.5, 0), out, in);
        Param norm = new Param("w.norm", gaussian(rnd, in, 0.3, 1), in);
        return new Case(w, norm, gaussian(rnd, n * in, 1, 0), gaussian(rnd, n * out, 1, 0));
    }

    @ParameterizedTest
    @CsvSource({"1, 5, 4, 101, VANILLA", "3, 7, 2, 102, FUSED", "4, 6, 9, 103, VANILLA", "2, 3, 1, 104, FUSED"})
    void quantizeOffMatchesFiniteDifferences(int n, int in, int out, long seed, BitLinearOp.Variant variant) {
        Case k = newCase(n, in, out, seed);
        BitLinearOp op = new BitLinearOp(k.w(), k.norm(), false, variant);
        op.forward(k.x(), n);
        double[] dx = op.backward(k.dy());
        java.util.function.DoubleSupplier loss = () -> dot(op.forward(k.x(), n), k.dy());
        assertClose("bitlinear dx", dx, numeric(loss, k.x()));
        assertClose("bitlinear dW", k.w().grad(), numeric(loss, k.w().value()));
        assertClose("bitlinear dNorm", k.norm().grad(), numeric(loss, k.norm().value()));
    }

    @ParameterizedTest
    @CsvSource({"1, 5, 4, 111, false", "3, 7, 2, 112, true", "5, 9, 6, 113, true", "2, 4, 3, 114, false"})
    void vanillaAndFusedGiveIdenticalGradients(int n, int in, int out, long seed, boolean quantize) {
        Case a = newCase(n, in, out, seed);
        Case b = newCase(n, in, out, seed);
        BitLinearOp vanilla = new BitLinearOp(a.w(), a.norm(), quantize, BitLinearOp.Variant.VANILLA);
        BitLinearOp fused = new BitLinearOp(b.w(), b.norm(), quantize, BitLinearOp.Variant.FUSED);
        assertArrayEquals(vanilla.forward(a.x(), n), fused.forward(b.x(), n), "outputs");
        assertArrayEquals(vanilla.backward(a.dy()), fused.backward(b.dy()), "dx");
        assertArrayEquals(a.w().grad(), b.w().grad(), "dW");
        assertArrayEquals(a.norm().grad(), b.norm().grad(), "dNorm");
    }

    /**
     * Quantization on: dx and dNorm equal those of the unquantized op whose weight is the ternarized W
     * (activation STE is the identity), and dW, passed to the latent W, is {@code dy^T · xq} with xq the
     * dequantized int8 input (weight STE is the identity).
     */
    @ParameterizedTest
    @CsvSource({"1, 5, 4, 121, VANILLA", "3, 7, 2, 122, FUSED", "4, 16, 9, 123, FUSED"})
    void straightThroughEstimator(int n, int in, int out, long seed, BitLinearOp.Variant variant) {
        Case k = newCase(n, in, out, seed);
        double[] ternary = new double[out * in];
        double s = FakeQuant.ternarize(k.w().value(), ternary);
        Param wt = new Param("wt", ternary.clone(), out, in);
        Param normT = new Param("wt.norm", k.norm().value().clone(), in);
        BitLinearOp on = new BitLinearOp(k.w(), k.norm(), true, variant);
        BitLinearOp identity = new BitLinearOp(wt, normT, false, variant);
        double[] yOn = on.forward(k.x(), n);
        double[] yOff = identity.forward(k.x(), n);
        assertArrayEquals(on.backward(k.dy()), identity.backward(k.dy()), "dx through the activation STE");
        assertArrayEquals(normT.grad(), k.norm().grad(), "dNorm through the activation STE");

        double[] xq = new double[n * in];
        RmsNorm.forward(k.x(), k.norm().value(), BitLinearOp.EPS, n, in, xq, new double[n]);
        FakeQuant.activations(xq, n, in, xq);
        double[] expectedDw = new double[out * in];
        for (int row = 0; row < n; row++) {
            for (int o = 0; o < out; o++) {
                for (int j = 0; j < in; j++) {
                    expectedDw[o * in + j] += k.dy()[row * out + o] * xq[row * in + j];
                }
            }
        }
        assertClose("dW through the weight STE", k.w().grad(), expectedDw, 1e-14);
        assertTrue(GradCheck.relErr(yOn, yOff) > 1e-6, "quantization must change the output");
        for (double v : ternary) {
            assertTrue(v == 0 || Math.abs(Math.abs(v) - s) == 0, "ternary value " + v + " not in {-s, 0, s}, s = " + s);
        }
    }

    /** The fake activation quantizer lands on the int8 codes of the float reference (random data has no ties). */
    @ParameterizedTest
    @CsvSource({"1, 33, 131", "4, 64, 132"})
    void activationCodesMatchReference(int n, int d, long seed) {
        Random rnd = new Random(seed);
        float[] y = new float[n * d];
        double[] yd = new double[n * d];
        for (int k = 0; k < y.length; k++) {
            y[k] = (float) (3 * rnd.nextGaussian());
            yd[k] = y[k];
        }
        double[] q = new double[n * d];
        FakeQuant.activations(yd, n, d, q);
        byte[] codes = new byte[d];
        for (int row = 0; row < n; row++) {
            float factor = RmsNormQuantReference.quantize(y, row * d, codes, 0, d);
            for (int j = 0; j < d; j++) {
                assertEquals(codes[j], (int) Math.rint(q[row * d + j] / factor), "row " + row + " col " + j);
            }
        }
    }

    /**
     * Kept for backward at n 3, in 5, out 4, in doubles: both keep x [3, 5], the inverse rms [3] and the
     * ternarized W [4, 5]; VANILLA also xq [3, 5]. Backward releases everything.
     */
    @ParameterizedTest
    @CsvSource({"VANILLA, 264, 160", "FUSED, 144, 160"})
    void savedBytesAreCountedExactly(BitLinearOp.Variant variant, long activations, long weights) {
        Case k = newCase(3, 5, 4, 121);
        BitLinearOp op = new BitLinearOp(k.w(), k.norm(), true, variant);
        op.forward(k.x(), 3);
        SavedBytes saved = new SavedBytes();
        op.countSaved(saved);
        assertEquals(activations, saved.activations(), "activation bytes");
        assertEquals(weights, saved.weights(), "weight-copy bytes");
        op.backward(k.dy());
        SavedBytes after = new SavedBytes();
        op.countSaved(after);
        assertEquals(0, after.total(), "bytes kept after backward");
    }
}
