package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.ternary.TernaryMatrix;

/**
 * The ternary accumulate, plain Java: the semantic reference of every BitLinear kernel.
 *
 * <pre>
 *   out[t, o] = (s * actFactor[t]) * sum_i T[o, i] * q[t, i]       T in {-1,0,1}, q int8
 * </pre>
 * W: [out, in] packed 2-bit ({@link TernaryMatrix}); q: [t, in] int8; actFactor: [t] = a/127 of
 * each row's quantizer; out: [t, out] float. The sum is an integer (additions and subtractions
 * only); the two scales are applied once at the end.
 */
public final class BitLinearReference {
    private BitLinearReference() {
    }

    /** The integer dot product of row o of T with q[qOff .. qOff + in). */
    public static int dot(TernaryMatrix w, int o, byte[] q, int qOff) {
        int[] codes = w.codes();
        int wpr = w.wordsPerRow();
        int in = w.in();
        int acc = 0;
        for (int k = 0; k < wpr; k++) {
            int word = codes[o * wpr + k];
            int base = k * TernaryMatrix.WEIGHTS_PER_WORD;
            int n = Math.min(TernaryMatrix.WEIGHTS_PER_WORD, in - base);
            for (int j = 0; j < n; j++) {
                int t = TernaryMatrix.decode(word >>> (2 * j));
                int a = q[qOff + base + j];
                if (t > 0) {
                    acc += a;
                } else if (t < 0) {
                    acc -= a;
                }
            }
        }
        return acc;
    }

    /**
     * out[r, :] (+)= s * actFactor[r] * (T . q[r, :]) for r < rows.
     *
     * @param q         [rows, in] int8
     * @param actFactor [rows] the activation quantizer's a / 127
     * @param out       [rows, out] float
     * @param accumulate add into out (residual epilogue) instead of overwriting it
     */
    public static void forward(TernaryMatrix w, byte[] q, float[] actFactor, int rows, float[] out, boolean accumulate) {
        int in = w.in();
        int o = w.out();
        for (int r = 0; r < rows; r++) {
            float factor = w.scale() * actFactor[r];
            for (int j = 0; j < o; j++) {
                float v = dot(w, j, q, r * in) * factor;
                out[r * o + j] = accumulate ? out[r * o + j] + v : v;
            }
        }
    }
}
