package dev.mmfree.model.train;

import dev.mmfree.model.config.HgrnBitConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.Random;

import static dev.mmfree.model.train.GradCheck.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** AdamW against its formula, clipping, the schedule, and a tiny model learning a repetitive corpus. */
class OptimizerTest {
    /** Two AdamW steps on a decayed and a non-decayed parameter against the update written out by hand. */
    @ParameterizedTest
    @CsvSource({"301, 0.1", "302, 0.0"})
    void adamWMatchesItsFormula(long seed, double wd) {
        Random rnd = new Random(seed);
        Param w = new Param("model.layers.0.attn.i_proj.weight", gaussian(rnd, 6, 1, 0), 2, 3);
        Param n = new Param("model.norm.weight", gaussian(rnd, 3, 1, 1), 3);
        double b1 = 0.9;
        double b2 = 0.95;
        double eps = 1e-8;
        double lr = 0.01;
        for (Param p : List.of(w, n)) {
            double[] x = p.value().clone();
            double[] m = new double[x.length];
            double[] v = new double[x.length];
            double[][] grads = {gaussian(rnd, x.length, 1, 0), gaussian(rnd, x.length, 1, 0)};
            AdamW single = new AdamW(b1, b2, eps, wd);
            for (int k = 1; k <= 2; k++) {
                System.arraycopy(grads[k - 1], 0, p.grad(), 0, x.length);
                single.step(List.of(p), lr);
                for (int e = 0; e < x.length; e++) {
                    double g = grads[k - 1][e];
                    m[e] = b1 * m[e] + (1 - b1) * g;
                    v[e] = b2 * v[e] + (1 - b2) * g * g;
                    x[e] -= (AdamW.decays(p) ? lr * wd : 0) * x[e];
                    x[e] -= lr * (m[e] / (1 - Math.pow(b1, k))) / (Math.sqrt(v[e] / (1 - Math.pow(b2, k))) + eps);
                }
            }
            assertArrayEquals(x, p.value(), 1e-15, p.name());
            assertEquals(2, single.steps());
        }
        assertTrue(AdamW.decays(w) && !AdamW.decays(n));
    }

    @Test
    void clipScalesToTheGlobalNorm() {
        Random rnd = new Random(311);
        Param a = new Param("a", new double[5], 5);
        Param b = new Param("b", new double[3], 3);
        System.arraycopy(gaussian(rnd, 5, 2, 0), 0, a.grad(), 0, 5);
        System.arraycopy(gaussian(rnd, 3, 2, 0), 0, b.grad(), 0, 3);
        double before = AdamW.clipGlobalNorm(List.of(a, b), 0.5);
        assertTrue(before > 0.5, "norm before " + before);
        assertEquals(0.5, AdamW.clipGlobalNorm(List.of(a, b), 0.5), 1e-12);
        double[] keep = a.grad().clone();
        assertEquals(0.5, AdamW.clipGlobalNorm(List.of(a, b), 10), 1e-12);
        assertArrayEquals(keep, a.grad(), "a norm under the limit is left alone");
    }

    @Test
    void warmupThenCosine() {
        LrSchedule s = new LrSchedule(1e-2, 1e-3, 10, 110);
        assertEquals(1e-3, s.at(0), 1e-15);
        assertEquals(1e-2, s.at(9), 1e-15);
        assertEquals(1e-2, s.at(10), 1e-15);
        assertEquals((1e-2 + 1e-3) / 2, s.at(60), 1e-15);
        assertEquals(1e-3, s.at(110), 1e-15);
        assertEquals(1e-3, s.at(500), 1e-15);
        assertThrows(TrainException.class, () -> new LrSchedule(1e-2, 1e-3, 10, 10));
    }

    /** A repetitive corpus of period 7 over a vocab of 11: next-token loss falls below a tenth of its start. */
    @ParameterizedTest
    @CsvSource({"true, FUSED, 321", "false, VANILLA, 322"})
    void tinyModelLearnsARepetitiveCorpus(boolean quantize, BitLinearOp.Variant variant, long seed) {
        HgrnBitConfig c = new HgrnBitConfig(11, 16, 2, 32, 1e-6, true, false, 1, 2);
        int[] pattern = {3, 1, 4, 1, 5, 9, 2};
        double[] first = train(c, quantize, variant, seed, pattern);
        double[] again = train(c, quantize, variant, seed, pattern);
        assertArrayEquals(first, again, "the same seeds give the same run");
        double start = first[0];
        double end = first[first.length - 1];
        assertTrue(end < start / 10, "loss fell from " + start + " to only " + end);
    }

    /** Runs 120 steps of b 4 windows of 12 tokens; returns the loss of every step. */
    private static double[] train(HgrnBitConfig c, boolean quantize, BitLinearOp.Variant variant, long seed, int[] pattern) {
        HgrnBitTrainer m = new HgrnBitTrainer(c, HgrnBitTrainer.init(c, seed, 0.1), quantize, variant);
        AdamW opt = new AdamW(0.9, 0.95, 1e-8, 0.01);
        int steps = 120;
        LrSchedule lr = new LrSchedule(2e-2, 2e-3, 10, steps);
        Random data = new Random(seed + 1);
        double[] losses = new double[steps];
        for (int k = 0; k < steps; k++) {
            int[][] batch = new int[4][12];
            for (int[] row : batch) {
                int offset = data.nextInt(pattern.length);
                for (int p = 0; p < row.length; p++) {
                    row[p] = pattern[(offset + p) % pattern.length];
                }
            }
            losses[k] = m.trainStep(batch, opt, lr.at(k), 1.0);
        }
        return losses;
    }
}
