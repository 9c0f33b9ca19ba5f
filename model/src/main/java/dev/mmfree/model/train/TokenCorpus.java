package dev.mmfree.model.train;

import dev.mmfree.model.tokenizer.TextTokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * A text file as token ids, split into a training part and a validation part (the last
 * {@code valFraction} of the tokens): byte-level by default (id = the byte, 0..255, vocab 256, no
 * special tokens), or the ids of a tokenizer (vocab = its size). Training batches are random windows
 * of t tokens; validation uses fixed, non-overlapping windows from the start of its part.
 */
public final class TokenCorpus {
    public static final int VOCAB = 256;

    private final int vocab;
    private final int[] train;   // [trainLength] token ids
    private final int[] val;     // [valLength] token ids

    /** Byte-level tokens of bytes. */
    public TokenCorpus(byte[] bytes, double valFraction) {
        this(byteIds(bytes), VOCAB, valFraction);
    }

    /** Token ids in [0, vocab). */
    public TokenCorpus(int[] ids, int vocab, double valFraction) {
        if (!(valFraction >= 0 && valFraction < 1)) {
            throw new TrainException("corpus: validation fraction must be in [0, 1), got " + valFraction);
        }
        for (int k = 0; k < ids.length; k++) {
            if (ids[k] < 0 || ids[k] >= vocab) {
                throw new TrainException("corpus: token " + ids[k] + " at position " + k + " outside [0, " + vocab + ")");
            }
        }
        this.vocab = vocab;
        int split = ids.length - (int) Math.round(ids.length * valFraction);
        train = Arrays.copyOfRange(ids, 0, split);
        val = Arrays.copyOfRange(ids, split, ids.length);
    }

    /** The file's bytes as byte-level tokens. */
    public static TokenCorpus read(Path file, double valFraction) {
        return new TokenCorpus(readBytes(file), valFraction);
    }

    /** The file's text (UTF-8) encoded by a tokenizer, as one sequence. */
    public static TokenCorpus read(Path file, TextTokenizer tokenizer, double valFraction) {
        return new TokenCorpus(tokenizer.encode(new String(readBytes(file), StandardCharsets.UTF_8)), tokenizer.vocabSize(), valFraction);
    }

    private static byte[] readBytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new TrainException(file + ": cannot read corpus (" + e.getMessage() + ")");
        }
    }

    private static int[] byteIds(byte[] bytes) {
        int[] ids = new int[bytes.length];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = bytes[k] & 0xff;
        }
        return ids;
    }

    public int vocab() {
        return vocab;
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
            throw new TrainException("corpus: training part has " + train.length + " tokens, a window needs t = " + t + " (>= 2)");
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
