package dev.mmfree.model.train;

/**
 * RMSNorm over rows, forward and backward, in double: {@code y = x * r * w} with
 * {@code r = 1 / sqrt(mean(x^2) + eps)} per row. x, y: [n, d]; w: [d]; r: [n].
 * Backward: {@code dw += sum_rows dy * x * r},
 * {@code dx = r * (dy * w) - x * r^3 * mean((dy * w) * x)}.
 */
public final class RmsNorm {
    private RmsNorm() {
    }

    /** Writes y [n, d] (may alias x) and the inverse rms per row r [n]. */
    public static void forward(double[] x, double[] w, double eps, int n, int d, double[] y, double[] r) {
        for (int row = 0; row < n; row++) {
            int o = row * d;
            double ss = 0;
            for (int j = 0; j < d; j++) {
                ss += x[o + j] * x[o + j];
            }
            double inv = 1.0 / Math.sqrt(ss / d + eps);
            r[row] = inv;
            for (int j = 0; j < d; j++) {
                y[o + j] = x[o + j] * inv * w[j];
            }
        }
    }

    /** From dy [n, d], x [n, d] and r [n]: adds to dx [n, d] and dw [d]. */
    public static void backward(double[] dy, double[] x, double[] r, double[] w, int n, int d, double[] dx, double[] dw) {
        for (int row = 0; row < n; row++) {
            int o = row * d;
            double inv = r[row];
            double dot = 0;
            for (int j = 0; j < d; j++) {
                double g = dy[o + j] * w[j];
                dot += g * x[o + j];
                dw[j] += dy[o + j] * x[o + j] * inv;
            }
            double k = inv * inv * inv * dot / d;
            for (int j = 0; j < d; j++) {
                dx[o + j] += inv * dy[o + j] * w[j] - x[o + j] * k;
            }
        }
    }
}
