package dev.mmfree.kernels.ternary;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TernaryMatrixTest {
    @ParameterizedTest(name = "[{0}, {1}]")
    @CsvSource({"1, 1", "1, 16", "3, 17", "7, 33", "5, 64", "2, 100"})
    void packUnpackRoundTripsAndPadsWithZeroCodes(int out, int in) {
        Random rnd = new Random(31L * out + in);
        byte[] t = new byte[out * in];
        for (int k = 0; k < t.length; k++) {
            t[k] = (byte) (rnd.nextInt(3) - 1);
        }
        TernaryMatrix m = TernaryMatrix.pack(t, out, in, 0.25f);
        assertArrayEquals(t, m.unpack());
        for (int r = 0; r < out; r++) {
            for (int c = 0; c < in; c++) {
                assertEquals(t[r * in + c], m.get(r, c), "T[" + r + ", " + c + "]");
            }
            int used = in - (m.wordsPerRow() - 1) * TernaryMatrix.WEIGHTS_PER_WORD;
            int lastWord = m.codes()[r * m.wordsPerRow() + m.wordsPerRow() - 1];
            int padding = used == 16 ? 0 : lastWord >>> (2 * used);
            assertEquals(0, padding, "padding bits of row " + r);
        }
        assertEquals(4L * out * TernaryMatrix.wordsPerRow(in), m.packedBytes());
    }

    @Test
    void ternarizeRoundsHalfToEvenAndClampsToOne() {
        // mean |w| = (0.5 + 0.5 + 1.5 + 1.5 + 1 + 2.5 + 0 + 0.5) / 8 = 1, so w / s = w
        float[] w = {0.5f, -0.5f, 1.5f, -1.5f, 1f, 2.5f, 0f, 0.5f};
        TernaryMatrix m = TernaryMatrix.ternarize(w, 2, 4);
        assertEquals(1f, m.scale());
        // rint: 0.5 -> 0, -0.5 -> -0, 1.5 -> 2 -> 1, -1.5 -> -2 -> -1, 1 -> 1, 2.5 -> 2 -> 1
        assertArrayEquals(new byte[]{0, 0, 1, -1, 1, 1, 0, 0}, m.unpack());
    }

    @Test
    void ternarizeScaleIsMeanAbsAndCodesFollowTheHalfThreshold() {
        Random rnd = new Random(7);
        int out = 9;
        int in = 37;
        float[] w = new float[out * in];
        double sum = 0;
        for (int k = 0; k < w.length; k++) {
            w[k] = (float) (rnd.nextGaussian() * 0.03);
            sum += Math.abs(w[k]);
        }
        TernaryMatrix m = TernaryMatrix.ternarize(w, out, in);
        assertEquals((float) (sum / w.length), m.scale());
        for (int k = 0; k < w.length; k++) {
            double v = w[k] / (double) m.scale();
            int expected = Math.abs(v) < 0.5 ? 0 : (int) Math.signum(v);
            assertEquals(expected, m.get(k / in, k % in), "T at " + k + " for w/s = " + v);
        }
    }

    @Test
    void ternarizeOfZerosClampsTheScale() {
        TernaryMatrix m = TernaryMatrix.ternarize(new float[6], 2, 3);
        assertEquals(1e-5f, m.scale());
        assertArrayEquals(new byte[6], m.unpack());
    }

    @Test
    void rejectsBadInput() {
        assertThrows(IllegalArgumentException.class, () -> TernaryMatrix.ternarize(new float[5], 2, 3));
        assertThrows(IllegalArgumentException.class, () -> TernaryMatrix.pack(new byte[]{2}, 1, 1, 1f));
        assertThrows(IllegalArgumentException.class, () -> new TernaryMatrix(1, 1, new int[1], 0f));
    }
}
