package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.Checks;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.cpu.CpuPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.Random;

import static dev.mmfree.kernels.Checks.MARGIN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BitLinearVector against BitLinearReference: outputs bit-identical (integer sums, same scale order). */
class BitLinearVectorTest {
    private static final CpuPool POOL = new CpuPool(3);

    @AfterAll
    static void closePool() {
        POOL.close();
    }

    @ParameterizedTest(name = "in={0} out={1} rows={2} parts={3} accumulate={4}")
    @CsvSource({
            "100, 3, 1, 1, false",
            "100, 257, 1, 1, true",
            "1000, 3, 5, 1, false",
            "1000, 257, 7, 3, true",
            "257, 33, 70, 2, false",
            "2560, 64, 1, 3, false",
            "2560, 40, 4, 1, true",
            "9000, 19, 1, 1, false",
            "9000, 19, 6, 1, true",
            "1, 5, 2, 1, false",
            "50, 96, 1, 1, false",
            "77, 161, 3, 2, true",
            "300, 200, 9, 2, false",
            "640, 600, 2, 2, true",
            "1024, 3000, 1, 3, true",
            "1024, 1100, 9, 1, false",
    })
    void matchesReference(int in, int out, int rows, int parts, boolean accumulate) {
        Random rnd = new Random(31L * in + 7L * out + rows * 3L + parts + (accumulate ? 1 : 0));
        TernaryMatrix[] w = new TernaryMatrix[parts];
        for (int p = 0; p < parts; p++) {
            w[p] = randomTernary(rnd, out + p, in);
        }
        byte[] q = Checks.int8(rnd, parts * rows * in);
        float[] factor = new float[parts * rows];
        for (int i = 0; i < factor.length; i++) {
            factor[i] = 0.001f + rnd.nextFloat() * 0.05f;
        }
        check(w, q, factor, rows, accumulate, rnd);
    }

    /**
     * Every product at its extreme (-1 x -128) over 20000 columns: the short lanes must widen to int in time. 130 rows
     * make a group of four tiles (the two-token loop, for tokens 0-3) and a single tile; the fifth token runs alone.
     */
    @Test
    void extremeSumsDoNotOverflow() {
        int in = 20000;
        int out = 130;
        int rows = 5;
        byte[] t = new byte[out * in];
        Arrays.fill(t, (byte) -1);
        Arrays.fill(t, 0, in, (byte) 1);
        TernaryMatrix w = TernaryMatrix.pack(t, out, in, 0.5f);
        byte[] q = new byte[rows * in];
        Arrays.fill(q, (byte) -128);
        float[] factor = new float[rows];
        Arrays.fill(factor, 1f);
        check(new TernaryMatrix[]{w}, q, factor, rows, false, new Random(5));
    }

    /** Spans cover the pairs in order, as even as they allow; the model shapes get the spans the class doc names. */
    @Test
    void spansCoverThePairsEvenly() {
        for (int threads = 1; threads <= 4; threads++) {
            for (int words : new int[]{1, 12, 114, 285, 313, 768, 2304}) {
                int length = Math.max(BitLinearVector.SPAN, BitLinearVector.STREAM_WORDS / words);
                for (int pairs = 1; pairs <= 300; pairs++) {
                    String what = pairs + " pairs, " + words + " words, " + threads + " threads";
                    int[] start = BitLinearVector.spans(pairs, words, threads);
                    int count = start.length - 1;
                    assertEquals(0, start[0], what);
                    assertEquals(pairs, start[count], what);
                    int min = Integer.MAX_VALUE;
                    int max = 0;
                    for (int k = 0; k < count; k++) {
                        min = Math.min(min, start[k + 1] - start[k]);
                        max = Math.max(max, start[k + 1] - start[k]);
                    }
                    assertTrue(min >= 1 && max - min <= 1, what + ": spans of " + min + " to " + max);
                    if (pairs >= 2 * threads * length) {
                        assertEquals(pairs / length, count, what);
                        assertTrue(min >= length, what + ": spans of " + min + ", streams shorter than " + length + " groups");
                    } else {
                        assertEquals(Math.min(pairs, 2 * threads), count, what + ": two spans a thread, or one a pair");
                    }
                }
            }
        }
        assertSpans(10, 2, 2, 20, 285);    // 2.7B's 2560 x 2560 on two threads
        assertSpans(125, 2, 2, 250, 285);  // 2.7B's lm_head
        assertSpans(8, 2, 2, 16, 228);     // 1.3B's o_proj
        assertSpans(24, 2, 2, 48, 228);    // 1.3B's i|f|g
        assertSpans(4, 6, 6, 24, 114);     // 370M's i|f|g
        assertSpans(8, 5, 6, 44, 114);     // 370M's gate|up
        assertSpans(4, 2, 2, 8, 114);      // 370M's o_proj: two spans a thread
        assertSpans(50, 5, 5, 250, 114);   // 370M's lm_head
    }

    private static void assertSpans(int count, int min, int max, int pairs, int words) {
        int[] start = BitLinearVector.spans(pairs, words, 2);
        assertEquals(count, start.length - 1, pairs + " pairs of " + words + " words");
        for (int k = 0; k < count; k++) {
            int n = start[k + 1] - start[k];
            assertTrue(n >= min && n <= max, pairs + " pairs of " + words + " words: span " + k + " of " + n);
        }
    }

    private static void check(TernaryMatrix[] w, byte[] q, float[] factor, int rows, boolean accumulate, Random rnd) {
        int in = w[0].in();
        int outTotal = Arrays.stream(w).mapToInt(TernaryMatrix::out).sum();
        float[] base = Checks.gaussian(rnd, rows * outTotal, 1f);
        float[] expected = new float[rows * outTotal];
        int col = 0;
        for (int p = 0; p < w.length; p++) {
            int o = w[p].out();
            float[] partOut = new float[rows * o];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(base, r * outTotal + col, partOut, r * o, o);
            }
            byte[] qp = Arrays.copyOfRange(q, p * rows * in, (p + 1) * rows * in);
            float[] fp = Arrays.copyOfRange(factor, p * rows, (p + 1) * rows);
            BitLinearReference.forward(w[p], qp, fp, rows, partOut, accumulate);
            for (int r = 0; r < rows; r++) {
                System.arraycopy(partOut, r * o, expected, r * outTotal + col, o);
            }
            col += o;
        }
        float[] actual = Checks.poisoned(rows * outTotal);
        if (accumulate) {
            System.arraycopy(base, 0, actual, MARGIN, base.length);
        }
        BitLinearVector kernel = new BitLinearVector(POOL, w);
        kernel.forward(q, 0, factor, 0, rows, actual, MARGIN, accumulate);
        Checks.assertGuards("bitlinear", actual, rows * outTotal);
        Checks.assertSameFloats("bitlinear [" + outTotal + ", " + in + "] rows " + rows, expected, 0, actual, MARGIN, rows * outTotal);
        float[] again = Checks.poisoned(rows * outTotal);
        if (accumulate) {
            System.arraycopy(base, 0, again, MARGIN, base.length);
        }
        kernel.forward(q, 0, factor, 0, rows, again, MARGIN, accumulate);
        Checks.assertSameFloats("bitlinear second call", expected, 0, again, MARGIN, rows * outTotal);
    }

    static TernaryMatrix randomTernary(Random rnd, int out, int in) {
        byte[] t = new byte[out * in];
        for (int i = 0; i < t.length; i++) {
            t[i] = (byte) (rnd.nextInt(3) - 1);
        }
        return TernaryMatrix.pack(t, out, in, 0.01f + rnd.nextFloat());
    }
}
