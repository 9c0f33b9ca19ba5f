package dev.mmfree.model.train;

import java.util.Random;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.fail;

/** Central finite differences in double and the relative L2 error the gradient tests assert. */
final class GradCheck {
    /** Step of the central differences: truncation ~h^2, rounding ~1e-16/h, both far below the tolerance. */
    static final double H = 1e-5;
    /** Relative L2 error allowed between an analytic gradient and finite differences, per tensor. */
    static final double TOLERANCE = 1e-6;

    private GradCheck() {
    }

    /** d loss / d values[k] for every k by central differences; values is restored. */
    static double[] numeric(DoubleSupplier loss, double[] values) {
        double[] g = new double[values.length];
        for (int k = 0; k < values.length; k++) {
            double keep = values[k];
            values[k] = keep + H;
            double up = loss.getAsDouble();
            values[k] = keep - H;
            double down = loss.getAsDouble();
            values[k] = keep;
            g[k] = (up - down) / (2 * H);
        }
        return g;
    }

    /** ||a - b|| / max(||a||, ||b||); 0 when both are zero. */
    static double relErr(double[] a, double[] b) {
        double diff = 0;
        double na = 0;
        double nb = 0;
        for (int k = 0; k < a.length; k++) {
            diff += (a[k] - b[k]) * (a[k] - b[k]);
            na += a[k] * a[k];
            nb += b[k] * b[k];
        }
        double scale = Math.sqrt(Math.max(na, nb));
        return scale == 0 ? 0 : Math.sqrt(diff) / scale;
    }

    /** Fails when analytic is not within TOLERANCE of numeric, or is all zero; prints the first differing values. */
    static void assertClose(String what, double[] analytic, double[] numeric) {
        assertClose(what, analytic, numeric, TOLERANCE);
    }

    static void assertClose(String what, double[] analytic, double[] numeric, double tolerance) {
        double err = relErr(analytic, numeric);
        double norm = 0;
        for (double v : numeric) {
            norm += v * v;
        }
        if (norm == 0 || !(err < tolerance)) {
            StringBuilder sb = new StringBuilder(what + ": rel L2 error " + err + " >= " + tolerance
                    + " (numeric norm " + Math.sqrt(norm) + "); first values analytic vs numeric:");
            for (int k = 0, shown = 0; k < analytic.length && shown < 5; k++) {
                if (Math.abs(analytic[k] - numeric[k]) > tolerance * Math.max(1e-12, Math.abs(numeric[k]))) {
                    sb.append(" [").append(k).append("] ").append(analytic[k]).append(" vs ").append(numeric[k]);
                    shown++;
                }
            }
            fail(sb.toString());
        }
    }

    static double[] gaussian(Random rnd, int n, double std, double mean) {
        double[] v = new double[n];
        for (int k = 0; k < n; k++) {
            v[k] = mean + std * rnd.nextGaussian();
        }
        return v;
    }

    /** sum(y * weights): a scalar loss whose gradient with respect to y is weights. */
    static double dot(double[] y, double[] weights) {
        double s = 0;
        for (int k = 0; k < y.length; k++) {
            s += y[k] * weights[k];
        }
        return s;
    }
}
