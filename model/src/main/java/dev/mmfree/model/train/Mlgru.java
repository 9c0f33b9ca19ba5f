package dev.mmfree.model.train;

import java.util.Arrays;

/**
 * The MLGRU token mixer over time for b sequences of t steps (rows r = seq * t + step), per channel:
 * <pre>
 *   fe = lb + (1 - lb) * sigmoid(fPre)      c = silu(i) * (1 - fe)
 *   s[step] = fe * s[step - 1] + c          (s[-1] = 0)
 *   o = RMSNorm_gNorm(g) * silu(s)
 * </pre>
 * i, fPre, g, s, o: [b * t, d]; lb, gNorm: [d]. Backward scans time in reverse, carrying
 * {@code ds[step - 1] += ds[step] * fe[step]}.
 */
public final class Mlgru {
    private Mlgru() {
    }

    /** What backward needs besides the inputs: the states, the normalized g and its inverse rms. */
    public record Saved(double[] state, double[] gn, double[] rG) {
    }

    /** Writes o [b * t, d]; returns the saved tensors. */
    public static Saved forward(double[] i, double[] fPre, double[] g, double[] lb, double[] gNorm, double eps,
                                int b, int t, int d, double[] o) {
        int n = b * t;
        double[] state = new double[n * d];   // [b * t, d]
        double[] gn = new double[n * d];      // [b * t, d]
        double[] rG = new double[n];          // [b * t]
        RmsNorm.forward(g, gNorm, eps, n, d, gn, rG);
        for (int seq = 0; seq < b; seq++) {
            for (int step = 0; step < t; step++) {
                int row = (seq * t + step) * d;
                for (int j = 0; j < d; j++) {
                    double fe = lb[j] + (1 - lb[j]) * Activations.sigmoid(fPre[row + j]);
                    double prev = step == 0 ? 0 : state[row - d + j];
                    double s = fe * prev + Activations.silu(i[row + j]) * (1 - fe);
                    state[row + j] = s;
                    o[row + j] = gn[row + j] * Activations.silu(s);
                }
            }
        }
        return new Saved(state, gn, rG);
    }

    /** From dO [b * t, d]: adds to di, dfPre, dg [b * t, d], dlb [d] and dgNorm [d]. */
    public static void backward(double[] dO, double[] i, double[] fPre, double[] g, double[] lb, double[] gNorm,
                                Saved saved, int b, int t, int d,
                                double[] di, double[] dfPre, double[] dg, double[] dlb, double[] dgNorm) {
        int n = b * t;
        double[] state = saved.state();
        double[] dgn = new double[n * d];
        double[] carry = new double[d];
        for (int seq = 0; seq < b; seq++) {
            Arrays.fill(carry, 0);
            for (int step = t - 1; step >= 0; step--) {
                int row = (seq * t + step) * d;
                for (int j = 0; j < d; j++) {
                    double s = state[row + j];
                    dgn[row + j] = dO[row + j] * Activations.silu(s);
                    double ds = dO[row + j] * saved.gn()[row + j] * Activations.siluGrad(s) + carry[j];
                    double f = Activations.sigmoid(fPre[row + j]);
                    double fe = lb[j] + (1 - lb[j]) * f;
                    double prev = step == 0 ? 0 : state[row - d + j];
                    double x = i[row + j];
                    double dfe = ds * (prev - Activations.silu(x));
                    di[row + j] += ds * (1 - fe) * Activations.siluGrad(x);
                    dfPre[row + j] += dfe * (1 - lb[j]) * f * (1 - f);
                    dlb[j] += dfe * (1 - f);
                    carry[j] = ds * fe;
                }
            }
        }
        RmsNorm.backward(dgn, g, saved.rG(), gNorm, n, d, dg, dgNorm);
    }
}
