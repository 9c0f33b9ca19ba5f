package dev.mmfree.model.train;

/**
 * The two quantizers of BitLinear, simulated in double ("fake quantization"), as
 * {@code ../shared/spec/hgrnbit.md} defines them. Their backward is the straight-through estimator:
 * the identity, so callers pass gradients through unchanged.
 * <ul>
 *   <li>activations, per row of [n, d]: {@code a = max(max|y|, 1e-5)},
 *       {@code q = clamp(rint(y * 127 / a), -128, 127) * a / 127};</li>
 *   <li>weights, per tensor [out, in]: {@code s = max(mean|W|, 1e-5)},
 *       {@code T = clamp(rint(W / s), -1, 1) * s}.</li>
 * </ul>
 */
public final class FakeQuant {
    private FakeQuant() {
    }

    /** q [n, d] (may alias y) = the dequantized int8 codes of y, per row. */
    public static void activations(double[] y, int n, int d, double[] q) {
        for (int row = 0; row < n; row++) {
            int o = row * d;
            double a = 0;
            for (int j = 0; j < d; j++) {
                a = Math.max(a, Math.abs(y[o + j]));
            }
            a = Math.max(a, 1e-5);
            double scale = 127.0 / a;
            for (int j = 0; j < d; j++) {
                double code = Math.max(-128, Math.min(127, Math.rint(y[o + j] * scale)));
                q[o + j] = code / scale;
            }
        }
    }

    /** t [out * in] = s * T, the ternarized weight; returns s. */
    public static double ternarize(double[] w, double[] t) {
        double sumAbs = 0;
        for (double v : w) {
            sumAbs += Math.abs(v);
        }
        double s = Math.max(sumAbs / w.length, 1e-5);
        for (int k = 0; k < w.length; k++) {
            t[k] = Math.max(-1, Math.min(1, Math.rint(w[k] / s))) * s;
        }
        return s;
    }
}
