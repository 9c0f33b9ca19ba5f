package dev.mmfree.kernels.hgrnblock;

import dev.mmfree.kernels.bitlinear.BitLinearReference;
import dev.mmfree.kernels.mlgru.MlgruReference;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static dev.mmfree.kernels.tornado.TornadoTesting.assertRelL2;
import static dev.mmfree.kernels.tornado.TornadoTesting.floats;
import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;
import static dev.mmfree.kernels.tornado.TornadoTesting.ternary;

/**
 * HgrnBitBlocksTornado against the blocks composed from the references, token after token (the
 * states carry over on the device). Relative L2 error of the output row at most {@link #TOL}, the
 * project's float32 model tolerance (shared/fixtures/README.md): an fma in the MLGRU update may put an
 * activation on the other side of an int8 rounding boundary.
 */
class HgrnBitBlocksTornadoTest {
    static final double TOL = 2e-3;
    static final int TOKENS = 4;

    @BeforeEach
    void tornado() {
        requireTornado();
    }

    @ParameterizedTest(name = "L={0} d={1} I={2}")
    @CsvSource({"1, 16, 48", "3, 72, 200"})
    void tokensMatchReference(int layers, int d, int n) {
        Random rnd = new Random(1000L * layers + d);
        double eps = 1e-6;
        List<HgrnBitBlocksTornado.Layer> weights = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            weights.add(randomLayer(rnd, l, d, n));
        }
        float[][] state = new float[layers][d];
        try (HgrnBitBlocksTornado blocks = new HgrnBitBlocksTornado(weights, d, n, eps)) {
            for (int t = 0; t < TOKENS; t++) {
                float[] x = floats(rnd, d, 1f);   // [d] an embedding row
                float[] expected = x.clone();
                for (int l = 0; l < layers; l++) {
                    referenceBlock(weights.get(l), state[l], expected, d, n, eps);
                }
                blocks.step(x);
                assertRelL2("hgrn blocks L " + layers + " d " + d + " token " + t, expected, x, TOL);
            }
        }
    }

    private static HgrnBitBlocksTornado.Layer randomLayer(Random rnd, int l, int d, int n) {
        float[] lb = new float[d];
        for (int j = 0; l > 0 && j < d; j++) {
            lb[j] = rnd.nextFloat() * 0.9f;
        }
        return new HgrnBitBlocksTornado.Layer(norm(rnd, d),
                weight(rnd, d, d), norm(rnd, d), weight(rnd, d, d), norm(rnd, d),
                weight(rnd, d, d), norm(rnd, d), norm(rnd, d), weight(rnd, d, d), norm(rnd, d),
                norm(rnd, d), weight(rnd, 2 * n, d), norm(rnd, d), weight(rnd, d, n), norm(rnd, n), lb);
    }

    private static TernaryMatrix weight(Random rnd, int out, int in) {
        return TernaryMatrix.pack(ternary(rnd, out * in), out, in, 0.02f + 0.05f * rnd.nextFloat());
    }

    private static float[] norm(Random rnd, int n) {
        float[] w = floats(rnd, n, 0.2f);
        for (int j = 0; j < n; j++) {
            w[j] += 1f;
        }
        return w;
    }

    /** One block, as shared/spec/hgrnbit.md and the model's reference write it. */
    private static void referenceBlock(HgrnBitBlocksTornado.Layer w, float[] state, float[] x, int d, int n, double eps) {
        float[] h = new float[d];
        float[] i = new float[d];
        float[] f = new float[d];
        float[] g = new float[d];
        float[] o = new float[d];
        float[] gateUp = new float[2 * n];
        RmsNormQuantReference.rmsNorm(x, 0, w.attnNorm(), h, 0, d, eps);
        bitLinear(h, w.iProj(), w.iNorm(), i, false);
        bitLinear(h, w.fProj(), w.fNorm(), f, false);
        bitLinear(h, w.gProj(), w.gNorm(), g, false);
        MlgruReference.step(i, f, g, 0, w.lowerBound(), w.outGateNorm(), eps, state, o, d);
        bitLinear(o, w.oProj(), w.oNorm(), x, true);
        RmsNormQuantReference.rmsNorm(x, 0, w.mlpNorm(), h, 0, d, eps);
        bitLinear(h, w.gateProj(), w.gateNorm(), gateUp, false);
        SwiGluReference.apply(gateUp, 0, gateUp, n, gateUp, 0, n);
        bitLinear(gateUp, w.downProj(), w.downNorm(), x, true);
    }

    private static void bitLinear(float[] in, TernaryMatrix w, float[] wNorm, float[] out, boolean accumulate) {
        byte[] q = new byte[w.in()];
        float[] scale = {RmsNormQuantReference.normQuantize(in, 0, wNorm, q, 0, w.in(), new float[w.in()])};
        BitLinearReference.forward(w, q, scale, 1, out, accumulate);
    }
}
