package dev.mmfree.kernels.attention;

import dev.mmfree.kernels.Checks;
import dev.mmfree.runtime.cpu.CpuPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

/** AttentionVector against AttentionReference (double sums, double exp): within 1e-5 relative L2. */
class AttentionVectorTest {
    private static final CpuPool POOL = new CpuPool(3);
    private static final double TOL = 1e-5;

    @AfterAll
    static void closePool() {
        POOL.close();
    }

    @ParameterizedTest(name = "H={0} KV={1} hd={2} batch={3} t={4} pos0={5}")
    @CsvSource({
            "4, 2, 24, 1, 1, 0", "4, 2, 24, 2, 1, 5", "3, 3, 7, 1, 1, 300", "8, 1, 80, 1, 1, 100",
            "4, 2, 24, 1, 37, 0", "2, 2, 80, 2, 5, 10", "4, 4, 128, 1, 3, 17", "1, 1, 100, 3, 2, 1",
            "2, 1, 80, 1, 200, 0", "3, 3, 17, 2, 65, 63", "2, 2, 64, 1, 33, 129", "1, 1, 7, 1, 2, 0", "4, 2, 80, 2, 96, 31",
    })
    void matchesReference(int heads, int kvHeads, int hd, int batch, int t, int pos0) {
        check(heads, kvHeads, hd, batch, t, pos0, 1f);
    }

    /** Scores of spread ~10 that grow with position: the running max of the tiled prefill moves block after block. */
    @ParameterizedTest(name = "H={0} KV={1} hd={2} batch={3} t={4} pos0={5}")
    @CsvSource({"2, 2, 80, 1, 150, 0", "1, 1, 24, 1, 1, 150", "2, 1, 40, 2, 70, 70"})
    void largeGrowingScoresMatchReference(int heads, int kvHeads, int hd, int batch, int t, int pos0) {
        check(heads, kvHeads, hd, batch, t, pos0, 10f);
    }

    private static void check(int heads, int kvHeads, int hd, int batch, int t, int pos0, float spread) {
        Random rnd = new Random(heads * 1000L + kvHeads * 100L + hd * 10L + batch + t * 7L + pos0 + (long) spread);
        int capacity = pos0 + t + 3;
        int width = heads * hd;
        int kvOff = 11;
        float[] q = Checks.gaussian(rnd, batch * t * width, spread);
        float[][] keys = new float[batch][];
        float[][] values = new float[batch][];
        for (int s = 0; s < batch; s++) {
            keys[s] = Checks.gaussian(rnd, kvOff + kvHeads * capacity * hd, 1f);
            values[s] = Checks.gaussian(rnd, kvOff + kvHeads * capacity * hd, 1f);
            for (int i = kvOff; i < keys[s].length && spread > 1f; i++) {
                keys[s][i] *= 1f + ((i - kvOff) / hd % capacity) / (float) capacity;
            }
            for (int h = 0; h < kvHeads; h++) {
                for (int p = pos0 + t; p < capacity; p++) {
                    for (int j = 0; j < hd; j++) {
                        keys[s][kvOff + (h * capacity + p) * hd + j] = Float.NaN;
                        values[s][kvOff + (h * capacity + p) * hd + j] = Float.NaN;
                    }
                }
            }
        }
        float[] expected = new float[batch * t * width];
        for (int s = 0; s < batch; s++) {
            AttentionReference.forward(q, s * t * width, t, heads, kvHeads, hd, keys[s], values[s], kvOff, capacity, pos0, expected, s * t * width);
        }
        float[] out = new float[batch * t * width];
        java.util.Arrays.fill(out, Float.NaN);
        new AttentionVector(POOL, heads, kvHeads, hd).forward(q, batch, t, keys, values, kvOff, capacity, pos0, out);
        Checks.assertRelL2("attention", expected, 0, out, 0, batch * t * width, TOL);
    }
}
