package dev.mmfree.kernels.sampling;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerReferenceTest {
    private final SamplerReference sampler = new SamplerReference();

    private static float[] randomLogits(SplittableRandom rnd, int v, double scale) {
        float[] l = new float[v];
        for (int i = 0; i < v; i++) {
            l[i] = (float) (rnd.nextGaussian() * scale);
        }
        return l;
    }

    /** Probabilities the documented rule assigns, computed independently of the sampler's code path. */
    private static double[] expected(float[] l, SamplingParams p) {
        int v = l.length;
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> l[a] != l[b] ? Float.compare(l[b], l[a]) : Integer.compare(a, b));
        int m = p.topK() > 0 ? Math.min(p.topK(), v) : v;
        double[] w = new double[v];
        double z = 0;
        for (int r = 0; r < m; r++) {
            w[order[r]] = Math.exp((l[order[r]] - l[order[0]]) / p.temperature());
            z += w[order[r]];
        }
        double run = 0;
        int kept = 0;
        while (kept < m && (kept == 0 || run < p.topP() * z)) {
            run += w[order[kept++]];
        }
        double s = 0;
        for (int r = 0; r < v; r++) {
            if (r >= kept) {
                w[order[r]] = 0;
            }
        }
        for (double x : w) {
            s += x;
        }
        for (int i = 0; i < v; i++) {
            w[i] /= s;
        }
        return w;
    }

    @Test
    void greedyIsArgmaxWithLowestIndexOnTies() {
        float[] l = {0.5f, 3f, -1f, 3f, 2.9f};
        SamplingParams g = SamplingParams.greedy();
        assertEquals(1, sampler.sample(l, 0, 5, g, 0.99));
        assertEquals(1, sampler.sample(l, 2, 3, g, 0.0), "row offset: the index is within the row");
        float[] zeros = {-0.0f, 0.0f, -1f};
        assertEquals(0, sampler.sample(zeros, 0, 3, g, 0.5), "-0.0 and 0.0 tie");
        float[] negInf = {Float.NEGATIVE_INFINITY, -1e30f, Float.NEGATIVE_INFINITY};
        assertEquals(1, sampler.sample(negInf, 0, 3, g, 0.5));
    }

    @Test
    void topKOneAndTinyTopPAreGreedy() {
        SplittableRandom rnd = new SplittableRandom(1);
        for (int c = 0; c < 50; c++) {
            int v = 1 + rnd.nextInt(300);
            float[] l = randomLogits(rnd, v, 3);
            boolean tie = c % 5 == 0 && v > 3;
            if (tie) {
                l[v - 1] = l[v / 2] = Float.MAX_VALUE;
            }
            int greedy = sampler.sample(l, 0, v, SamplingParams.greedy(), 0.5);
            double u = rnd.nextDouble();
            assertEquals(greedy, sampler.sample(l, 0, v, new SamplingParams(1.3, 1, 1, 0), u), "topK=1, v=" + v);
            assertEquals(greedy, sampler.sample(l, 0, v, new SamplingParams(0.7, 0, 1e-9, 0), u), "topP tiny, v=" + v);
            if (!tie) {
                assertEquals(greedy, sampler.sample(l, 0, v, new SamplingParams(1e-6, 0, 1, 0), u), "temperature near 0, v=" + v);
            } else {
                assertTrue(Set.of(v / 2, v - 1).contains(sampler.sample(l, 0, v, new SamplingParams(1e-6, 0, 1, 0), u)),
                        "temperature near 0 splits a tie at the top between the tied tokens");
            }
        }
    }

    @Test
    void inverseCdfFollowsIndexOrderOverKeptSet() {
        // probabilities at T=1: softmax(ln 1, ln 2, ln 3, ln 4) = 0.1, 0.2, 0.3, 0.4
        float[] l = {(float) Math.log(1), (float) Math.log(2), (float) Math.log(3), (float) Math.log(4)};
        SamplingParams p = new SamplingParams(1, 0, 1, 0);
        double[][] cases = {{0.0, 0}, {0.0999, 0}, {0.1001, 1}, {0.2999, 1}, {0.3001, 2}, {0.5999, 2}, {0.6001, 3}, {0.9999, 3}};
        for (double[] c : cases) {
            assertEquals((int) c[1], sampler.sample(l, 0, 4, p, c[0]), "u=" + c[0]);
        }
        // top-k 2 keeps tokens 3 and 2 (0.4 and 0.3, renormalized 3/7 and 4/7), drawn in index order: 2 then 3
        SamplingParams k2 = new SamplingParams(1, 2, 1, 0);
        assertEquals(2, sampler.sample(l, 0, 4, k2, 0.42));
        assertEquals(3, sampler.sample(l, 0, 4, k2, 0.43));
        // top-p 0.65: 0.4 < 0.65, 0.4 + 0.3 >= 0.65, so {3, 2} again; top-p 0.75 adds token 1
        assertEquals(3, sampler.sample(l, 0, 4, new SamplingParams(1, 0, 0.65, 0), 0.99));
        assertEquals(1, sampler.sample(l, 0, 4, new SamplingParams(1, 0, 0.75, 0), 0.0));
    }

    @Test
    void temperatureScalesLogits() {
        SplittableRandom rnd = new SplittableRandom(2);
        for (int c = 0; c < 30; c++) {
            int v = 2 + rnd.nextInt(100);
            float[] l = randomLogits(rnd, v, 2);
            double t = 0.25 + rnd.nextDouble() * 2;
            float[] scaled = new float[v];
            for (int i = 0; i < v; i++) {
                scaled[i] = (float) (l[i] / t);
            }
            double u = rnd.nextDouble();
            assertEquals(sampler.sample(scaled, 0, v, new SamplingParams(1, 0, 1, 0), u),
                    sampler.sample(l, 0, v, new SamplingParams(t, 0, 1, 0), u), "T=" + t + " u=" + u);
        }
    }

    @Test
    void drawFrequenciesMatchProbabilities() {
        SplittableRandom rnd = new SplittableRandom(3);
        SamplingParams[] params = {
            new SamplingParams(1, 0, 1, 0), new SamplingParams(0.6, 0, 1, 0), new SamplingParams(1.5, 5, 1, 0),
            new SamplingParams(1, 0, 0.8, 0), new SamplingParams(0.9, 7, 0.9, 0)};
        int draws = 200_000;
        for (SamplingParams p : params) {
            int v = 5 + rnd.nextInt(20);
            float[] l = randomLogits(rnd, v, 1.5);
            double[] prob = expected(l, p);
            int[] counts = new int[v];
            SplittableRandom stream = new SplittableRandom(rnd.nextLong());
            for (int n = 0; n < draws; n++) {
                counts[sampler.sample(l, 0, v, p, stream.nextDouble())]++;
            }
            for (int i = 0; i < v; i++) {
                double freq = counts[i] / (double) draws;
                double sigma = Math.sqrt(prob[i] * (1 - prob[i]) / draws);
                // 5 standard deviations plus a floor: a wrong rule shifts some token by far more
                assertTrue(Math.abs(freq - prob[i]) <= 5 * sigma + 1e-4,
                        p + " token " + i + ": frequency " + freq + " vs probability " + prob[i]);
                if (prob[i] == 0) {
                    assertEquals(0, counts[i], p + " token " + i + " is outside the kept set but was drawn");
                }
            }
        }
    }

    @Test
    void sameUniformsGiveSameTokens() {
        SplittableRandom rnd = new SplittableRandom(4);
        float[] l = randomLogits(rnd, 1000, 2);
        SamplingParams p = new SamplingParams(0.8, 40, 0.95, 7);
        SplittableRandom a = new SplittableRandom(p.seed());
        SplittableRandom b = new SplittableRandom(p.seed());
        SamplerReference other = new SamplerReference();
        for (int n = 0; n < 100; n++) {
            assertEquals(sampler.sample(l, 0, 1000, p, a.nextDouble()), other.sample(l, 0, 1000, p, b.nextDouble()));
        }
    }

    @Test
    void badLogitsAreClearErrors() {
        float[] nan = {0f, Float.NaN, 1f};
        SamplingException e = assertThrows(SamplingException.class, () -> sampler.sample(nan, 0, 3, SamplingParams.greedy(), 0.5));
        assertEquals("sampling: logit 1 of 3 is NaN", e.getMessage());
        assertThrows(SamplingException.class, () -> sampler.sample(nan, 0, 3, new SamplingParams(1, 0, 1, 0), 0.5));
        float[] inf = {0f, 1f, Float.POSITIVE_INFINITY};
        assertEquals("sampling: logit 2 of 3 is Infinity",
                assertThrows(SamplingException.class, () -> sampler.sample(inf, 0, 3, SamplingParams.greedy(), 0.5)).getMessage());
        float[] allNegInf = {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY};
        assertEquals("sampling: all 2 logits are -Infinity",
                assertThrows(SamplingException.class, () -> sampler.sample(allNegInf, 0, 2, new SamplingParams(1, 0, 1, 0), 0.5)).getMessage());
        assertThrows(SamplingException.class, () -> sampler.sample(new float[4], 0, 4, SamplingParams.greedy(), 1.0));
        assertThrows(SamplingException.class, () -> sampler.sample(new float[4], 2, 4, SamplingParams.greedy(), 0.5));
    }

    @Test
    void paramsNameTheFlag() {
        assertEquals("--temperature must be >= 0 and finite, got -1",
                assertThrows(SamplingException.class, () -> new SamplingParams(-1, 0, 1, 0)).getMessage());
        assertEquals("--temperature must be >= 0 and finite, got NaN",
                assertThrows(SamplingException.class, () -> new SamplingParams(Double.NaN, 0, 1, 0)).getMessage());
        assertEquals("--top-k must be >= 0 (0 = off), got -3",
                assertThrows(SamplingException.class, () -> new SamplingParams(1, -3, 1, 0)).getMessage());
        assertEquals("--top-p must be in (0, 1] (1 = off), got 0",
                assertThrows(SamplingException.class, () -> new SamplingParams(1, 0, 0, 0)).getMessage());
        assertEquals("--top-p must be in (0, 1] (1 = off), got 1.5",
                assertThrows(SamplingException.class, () -> new SamplingParams(1, 0, 1.5, 0)).getMessage());
    }
}
