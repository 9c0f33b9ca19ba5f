package dev.mmfree.model.train;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.mmfree.model.train.GradCheck.assertClose;
import static dev.mmfree.model.train.GradCheck.dot;
import static dev.mmfree.model.train.GradCheck.gaussian;
import static dev.mmfree.model.train.GradCheck.numeric;

/**
 * Every elementwise, normalization, recurrence and loss op's backward against central finite
 * differences in double (rel L2 error per tensor < {@link GradCheck#TOLERANCE}), on the scalar loss
 * {@code sum(out * R)} with random R, fresh seeded data per case, odd shapes and single rows.
 */
class OpsGradientTest {
    @ParameterizedTest
    @CsvSource({"1, 5, 11", "3, 7, 12", "4, 2, 13"})
    void rmsNorm(int n, int d, long seed) {
        Random rnd = new Random(seed);
        double[] x = gaussian(rnd, n * d, 1, 0);
        double[] w = gaussian(rnd, d, 0.3, 1);
        double[] weights = gaussian(rnd, n * d, 1, 0);
        double eps = 1e-6;
        double[] dx = new double[n * d];
        double[] dw = new double[d];
        double[] r = new double[n];
        double[] y = new double[n * d];
        RmsNorm.forward(x, w, eps, n, d, y, r);
        RmsNorm.backward(weights, x, r, w, n, d, dx, dw);
        java.util.function.DoubleSupplier loss = () -> {
            double[] out = new double[n * d];
            RmsNorm.forward(x, w, eps, n, d, out, new double[n]);
            return dot(out, weights);
        };
        assertClose("rmsnorm dx", dx, numeric(loss, x));
        assertClose("rmsnorm dw", dw, numeric(loss, w));
    }

    @ParameterizedTest
    @CsvSource({"1, 3, 21", "5, 4, 22"})
    void swiGlu(int n, int inter, long seed) {
        Random rnd = new Random(seed);
        double[] gateUp = gaussian(rnd, n * 2 * inter, 2, 0);
        double[] weights = gaussian(rnd, n * inter, 1, 0);
        double[] dGateUp = new double[gateUp.length];
        Activations.swiGluBackward(weights, gateUp, n, inter, dGateUp);
        assertClose("swiglu dgateUp", dGateUp, numeric(() -> {
            double[] out = new double[n * inter];
            Activations.swiGlu(gateUp, n, inter, out);
            return dot(out, weights);
        }, gateUp));
    }

    @ParameterizedTest
    @CsvSource({"31", "32"})
    void sigmoidAndSilu(long seed) {
        Random rnd = new Random(seed);
        double[] x = gaussian(rnd, 9, 3, 0);
        double[] dSig = new double[x.length];
        double[] dSilu = new double[x.length];
        for (int k = 0; k < x.length; k++) {
            double s = Activations.sigmoid(x[k]);
            dSig[k] = s * (1 - s);
            dSilu[k] = Activations.siluGrad(x[k]);
        }
        assertClose("sigmoid'", dSig, numeric(() -> {
            double s = 0;
            for (double v : x) {
                s += Activations.sigmoid(v);
            }
            return s;
        }, x));
        assertClose("silu'", dSilu, numeric(() -> {
            double s = 0;
            for (double v : x) {
                s += Activations.silu(v);
            }
            return s;
        }, x));
    }

    @ParameterizedTest
    @CsvSource({"2, 3, 41", "4, 5, 42", "1, 2, 43"})
    void lowerBounds(int layers, int d, long seed) {
        Random rnd = new Random(seed);
        double[] raw = gaussian(rnd, layers * d, 1, 0);
        double[] weights = gaussian(rnd, layers * d, 1, 0);
        double[] lb = new double[layers * d];
        double[] p = new double[layers * d];
        LowerBounds.forward(raw, layers, d, lb, p);
        for (int j = 0; j < d; j++) {
            org.junit.jupiter.api.Assertions.assertEquals(0.0, lb[j], "lb[0] must be exactly zero");
        }
        double[] draw = new double[layers * d];
        LowerBounds.backward(weights, p, layers, d, draw);
        double[] fd = numeric(() -> {
            double[] out = new double[layers * d];
            LowerBounds.forward(raw, layers, d, out, new double[layers * d]);
            return dot(out, weights);
        }, raw);
        if (layers == 1) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(new double[d], draw, "one layer: no floor, no gradient");
        } else {
            assertClose("lower bounds draw", draw, fd);
        }
    }

    @ParameterizedTest
    @CsvSource({"2, 4, 3, 51", "1, 1, 5, 52", "3, 6, 2, 53"})
    void mlgru(int b, int t, int d, long seed) {
        Random rnd = new Random(seed);
        int n = b * t;
        double[] i = gaussian(rnd, n * d, 1, 0);
        double[] fPre = gaussian(rnd, n * d, 1, 0);
        double[] g = gaussian(rnd, n * d, 1, 0);
        double[] lb = new double[d];
        for (int j = 0; j < d; j++) {
            lb[j] = rnd.nextDouble() * 0.8;
        }
        double[] gNorm = gaussian(rnd, d, 0.3, 1);
        double[] weights = gaussian(rnd, n * d, 1, 0);
        double eps = 1e-6;
        double[] o = new double[n * d];
        Mlgru.Saved saved = Mlgru.forward(i, fPre, g, lb, gNorm, eps, b, t, d, o);
        double[] di = new double[n * d];
        double[] dfPre = new double[n * d];
        double[] dg = new double[n * d];
        double[] dlb = new double[d];
        double[] dgNorm = new double[d];
        Mlgru.backward(weights, i, fPre, g, lb, gNorm, saved, b, t, d, di, dfPre, dg, dlb, dgNorm);
        java.util.function.DoubleSupplier loss = () -> {
            double[] out = new double[n * d];
            Mlgru.forward(i, fPre, g, lb, gNorm, eps, b, t, d, out);
            return dot(out, weights);
        };
        assertClose("mlgru di", di, numeric(loss, i));
        assertClose("mlgru dfPre", dfPre, numeric(loss, fPre));
        assertClose("mlgru dg", dg, numeric(loss, g));
        assertClose("mlgru dlb", dlb, numeric(loss, lb));
        assertClose("mlgru dgNorm", dgNorm, numeric(loss, gNorm));
    }

    @ParameterizedTest
    @CsvSource({"7, 3, 61", "2, 5, 62"})
    void embedding(int vocab, int d, long seed) {
        Random rnd = new Random(seed);
        double[] table = gaussian(rnd, vocab * d, 1, 0);
        int[] tokens = new int[9];
        for (int r = 0; r < tokens.length; r++) {
            tokens[r] = rnd.nextInt(vocab);
        }
        double[] weights = gaussian(rnd, tokens.length * d, 1, 0);
        double[] dTable = new double[table.length];
        Embedding.backward(weights, tokens, d, dTable);
        assertClose("embedding dE", dTable, numeric(() -> dot(Embedding.forward(table, vocab, d, tokens), weights), table));
    }

    @ParameterizedTest
    @CsvSource({"4, 11, 71", "1, 3, 72"})
    void crossEntropy(int n, int vocab, long seed) {
        Random rnd = new Random(seed);
        double[] logits = gaussian(rnd, n * vocab, 2, 0);
        int[] targets = new int[n + 1];
        for (int r = 0; r < n; r++) {
            targets[r] = rnd.nextInt(vocab);
        }
        targets[n] = CrossEntropy.IGNORE;
        double[] all = new double[(n + 1) * vocab];
        System.arraycopy(logits, 0, all, 0, logits.length);
        for (int k = n * vocab; k < all.length; k++) {
            all[k] = rnd.nextGaussian();
        }
        double[] dLogits = new double[all.length];
        CrossEntropy.forwardBackward(all, targets, vocab, dLogits);
        assertClose("cross-entropy dlogits", dLogits,
                numeric(() -> CrossEntropy.forwardBackward(all, targets, vocab, new double[all.length]), all));
    }
}
