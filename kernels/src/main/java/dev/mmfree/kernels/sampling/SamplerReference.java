package dev.mmfree.kernels.sampling;

import java.util.Arrays;

/**
 * Picks the next token from one row of logits, plain Java: the semantic reference of every sampler.
 *
 * <pre>
 *   greedy (temperature 0): argmax l[i], lowest i on ties; u unused
 *   otherwise, with v = vocab, l = logits[off .. off+v):
 *     order   : all i sorted by l[i] descending, ties by lower i            (-0.0 counts as 0.0)
 *     top-k   : m = k > 0 ? min(k, v) : v; keep the first m of the order
 *     weights : w[i] = exp((l[i] - lmax) / T) in double, Z = sum of w over the kept set, in order
 *     top-p   : if p < 1, keep the shortest prefix of the order whose running sum of w is >= p * Z
 *     draw    : S = sum of w over the kept set, summed in index order (ascending i);
 *               return the first kept i (ascending) whose running sum c_i satisfies c_i > u * S;
 *               if rounding leaves none, the last kept i with w[i] > 0
 * </pre>
 * The caller owns the randomness: for a request with seed s it creates one
 * {@code new SplittableRandom(s)} and takes exactly one {@code nextDouble()} (u in [0, 1)) per
 * generated token, greedy or not. A device sampler given the same logits, parameters and u must
 * return the same token; it may differ only where u * S lands within float rounding of a boundary
 * c_i (it then returns a neighbouring kept token), which the tests of a device sampler allow for.
 *
 * <p>NaN or +Infinity logits, or a row that is all -Infinity, are a {@link SamplingException}:
 * they mean the model is broken, and a token picked from them would hide it.
 * An instance reuses its scratch arrays (one per thread); {@link #sample} allocates nothing per call
 * once they have grown to the vocabulary size.
 */
public final class SamplerReference {
    private long[] keys = new long[0];    // [v] (~sortable(l[i]) << 32) | i: ascending = the order
    private double[] weights = new double[0];   // [v] w[i], 0 for tokens not kept

    /** The token for logits[off .. off + vocab) under {@code params}, given this step's uniform u in [0, 1). */
    public int sample(float[] logits, int off, int vocab, SamplingParams params, double u) {
        if (vocab < 1 || off < 0 || off + vocab > logits.length) {
            throw new SamplingException("sampling: row [" + off + ", " + (off + vocab) + ") outside logits of length " + logits.length);
        }
        if (!(u >= 0 && u < 1)) {
            throw new SamplingException("sampling: uniform u must be in [0, 1), got " + u);
        }
        int best = argmax(logits, off, vocab);
        if (params.isGreedy()) {
            return best;
        }
        return draw(logits, off, vocab, params, u, logits[off + best]);
    }

    /** Index of the largest logit in [off, off + vocab), lowest on ties; checks every value. */
    public static int argmax(float[] logits, int off, int vocab) {
        int best = -1;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            float l = logits[off + i];
            if (Float.isNaN(l) || l == Float.POSITIVE_INFINITY) {
                throw new SamplingException("sampling: logit " + i + " of " + vocab + " is " + l);
            }
            if (best < 0 ? l > Float.NEGATIVE_INFINITY : l > max) {
                best = i;
                max = l;
            }
        }
        if (best < 0) {
            throw new SamplingException("sampling: all " + vocab + " logits are -Infinity");
        }
        return best;
    }

    private int draw(float[] logits, int off, int vocab, SamplingParams params, double u, float lmax) {
        if (keys.length < vocab) {
            keys = new long[vocab];
            weights = new double[vocab];
        }
        for (int i = 0; i < vocab; i++) {
            keys[i] = ((long) ~sortable(logits[off + i]) << 32) | i;
        }
        Arrays.sort(keys, 0, vocab);
        int m = params.topK() > 0 ? Math.min(params.topK(), vocab) : vocab;
        Arrays.fill(weights, 0, vocab, 0.0);
        double z = 0;
        for (int r = 0; r < m; r++) {
            int i = (int) keys[r];
            double w = Math.exp(((double) logits[off + i] - lmax) / params.temperature());
            weights[i] = w;
            z += w;
        }
        if (params.topP() < 1) {
            double target = params.topP() * z;
            double running = 0;
            int kept = 0;
            while (kept < m) {
                running += weights[(int) keys[kept++]];
                if (running >= target) {
                    break;
                }
            }
            for (int r = kept; r < m; r++) {
                weights[(int) keys[r]] = 0;
            }
        }
        double total = 0;
        for (int i = 0; i < vocab; i++) {
            total += weights[i];
        }
        double target = u * total;
        double running = 0;
        int lastPositive = -1;
        for (int i = 0; i < vocab; i++) {
            double w = weights[i];
            if (w > 0) {
                running += w;
                lastPositive = i;
                if (running > target) {
                    return i;
                }
            }
        }
        return lastPositive;
    }

    /** An int whose signed order is the float order, with -0.0 and 0.0 equal. */
    static int sortable(float f) {
        int b = Float.floatToIntBits(f + 0.0f);
        return b ^ ((b >> 31) & 0x7fffffff);
    }
}
