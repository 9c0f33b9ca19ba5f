package dev.mmfree.model.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * A text file as byte-level tokens (id = the byte, 0..255, vocab 256, no special tokens), split into a
 * training part and a validation part (the last {@code valFraction} of the bytes). Training batches are
 * random windows of t tokens; validation uses fixed, non-overlapping windows from the start of its part.
 */
public final class ByteCorpus {
    public static final int VOCAB = 256;

    private final int[] train;   // [trainLength] byte ids
    private final int[] val;     // [valLength] byte ids

    public ByteCorpus(byte[] bytes, double valFraction) {
        if (!(valFraction >= 0 && valFraction < 1)) {
            throw new TrainException("corpus: validation fraction must be in [0, 1), got " + valFraction);
        }
        int[] ids = new int[bytes.length];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = bytes[k] & 0xff;
        }
        int split = bytes.length - (int) Math.round(bytes.length * valFraction);
        train = Arrays.copyOfRange(ids, 0, split);
        val = Arrays.copyOfRange(ids, split, ids.length);
    }

    public static ByteCorpus read(Path file, double valFraction) {
        try {
            return new ByteCorpus(Files.readAllBytes(file), valFraction);
        } catch (IOException e) {
            throw new TrainException(file + ": cannot read corpus (" + e.getMessage() + ")");
        }
    }

    public int trainLength() {
        return train.length;
    }

    public int valLength() {
        return val.length;
    }

    /** b windows of t tokens at uniformly random offsets of the training part. */
    public int[][] batch(Random rnd, int b, int t) {
        if (t < 2 || train.length < t) {
            throw new TrainException("corpus: training part has " + train.length + " bytes, a window needs t = " + t + " (>= 2)");
        }
        int[][] out = new int[b][];
        for (int s = 0; s < b; s++) {
            int start = rnd.nextInt(train.length - t + 1);
            out[s] = Arrays.copyOfRange(train, start, start + t);
        }
        return out;
    }

    /** The validation part cut into at most {@code max} consecutive windows of t tokens (the tail that does not fill one is left out). */
    public int[][] validationWindows(int t, int max) {
        int n = Math.min(max, val.length / t);
        int[][] out = new int[n][];
        for (int s = 0; s < n; s++) {
            out[s] = Arrays.copyOfRange(val, s * t, s * t + t);
        }
        return out;
    }

    /** Mean next-token cross-entropy of the model over windows (in chunks of b), forward only; NaN without windows. */
    public static double meanLoss(HgrnBitTrainer model, int[][] windows, int b) {
        double sum = 0;
        for (int s = 0; s < windows.length; s += b) {
            int[][] chunk = Arrays.copyOfRange(windows, s, Math.min(windows.length, s + b));
            sum += model.loss(chunk) * chunk.length;
        }
        return windows.length == 0 ? Double.NaN : sum / windows.length;
    }
}
