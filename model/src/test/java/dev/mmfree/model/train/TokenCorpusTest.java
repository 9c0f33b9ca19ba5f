package dev.mmfree.model.train;

import dev.mmfree.model.config.HgrnBitConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Byte tokens, the train/validation split, seeded windows, and validation loss over chunks. */
class TokenCorpusTest {
    private static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static int indexOf(byte[] bytes, int from, int to, int[] window) {
        outer:
        for (int s = from; s + window.length <= to; s++) {
            for (int k = 0; k < window.length; k++) {
                if ((bytes[s + k] & 0xff) != window[k]) {
                    continue outer;
                }
            }
            return s;
        }
        return -1;
    }

    /** The split keeps the last fraction for validation; every byte (128..255 too) is its own id. */
    @ParameterizedTest
    @CsvSource({"1000, 0.05, 950, 501", "37, 0.2, 30, 502", "10, 0, 10, 503"})
    void splitsByTheTrailingFraction(int n, double fraction, int trainLength, long seed) {
        byte[] bytes = randomBytes(n, seed);
        TokenCorpus c = new TokenCorpus(bytes, fraction);
        assertEquals(trainLength, c.trainLength());
        assertEquals(n - trainLength, c.valLength());
        int t = 3;
        int[][] val = c.validationWindows(t, 1000);
        assertEquals((n - trainLength) / t, val.length);
        for (int s = 0; s < val.length; s++) {
            for (int k = 0; k < t; k++) {
                assertEquals(bytes[trainLength + s * t + k] & 0xff, val[s][k], "validation window " + s + " token " + k);
            }
        }
        assertEquals(Math.min(2, val.length), c.validationWindows(t, 2).length);
    }

    /** Windows are seeded, of length t, and lie inside the training part (never reaching into validation). */
    @ParameterizedTest
    @CsvSource({"400, 0.25, 3, 16, 511", "50, 0.1, 1, 45, 512", "64, 0.05, 5, 2, 513"})
    void batchesAreSeededWindowsOfTheTrainingPart(int n, double fraction, int b, int t, long seed) {
        byte[] bytes = randomBytes(n, seed);
        TokenCorpus c = new TokenCorpus(bytes, fraction);
        int[][] first = c.batch(new Random(seed + 1), b, t);
        assertEquals(b, first.length);
        for (int[] w : first) {
            assertEquals(t, w.length);
            assertTrue(indexOf(bytes, 0, c.trainLength(), w) >= 0, "window not in the training part: " + Arrays.toString(w));
        }
        int[][] again = c.batch(new Random(seed + 1), b, t);
        for (int s = 0; s < b; s++) {
            assertArrayEquals(first[s], again[s], "window " + s + " of the same seed");
        }
    }

    @Test
    void refusesWindowsLongerThanTheTrainingPart() {
        TokenCorpus c = new TokenCorpus(randomBytes(20, 521), 0.5);
        TrainException e = assertThrows(TrainException.class, () -> c.batch(new Random(1), 1, 11));
        assertEquals("corpus: training part has 10 tokens, a window needs t = 11 (>= 2)", e.getMessage());
        assertThrows(TrainException.class, () -> new TokenCorpus(new byte[4], 1.0));
    }

    /** meanLoss over chunks of any size equals the loss of all windows in one batch. */
    @ParameterizedTest
    @CsvSource({"3, 531", "1, 532", "7, 533"})
    void meanLossIsIndependentOfTheChunkSize(int chunk, long seed) {
        HgrnBitConfig cfg = new HgrnBitConfig(TokenCorpus.VOCAB, 8, 1, 6, 1e-6, true, false, 1, 2);
        HgrnBitTrainer m = new HgrnBitTrainer(cfg, HgrnBitTrainer.init(cfg, seed, 0.3), true, BitLinearOp.Variant.FUSED);
        TokenCorpus c = new TokenCorpus(randomBytes(300, seed + 1), 0.2);
        int[][] windows = c.validationWindows(9, 5);
        assertEquals(5, windows.length);
        double whole = m.loss(windows);
        double chunked = TokenCorpus.meanLoss(m, windows, chunk);
        assertEquals(whole, chunked, 1e-12 * Math.abs(whole));
        assertTrue(Double.isNaN(TokenCorpus.meanLoss(m, new int[0][], chunk)));
    }
}
