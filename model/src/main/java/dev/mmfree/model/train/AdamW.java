package dev.mmfree.model.train;

import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * AdamW (Loshchilov and Hutter) with decoupled weight decay, per element of every parameter, at step k (from 1):
 * <pre>
 *   m = b1 m + (1 - b1) g        v = b2 v + (1 - b2) g^2
 *   w -= lr * wd * w             (decoupled; only for decayed parameters)
 *   w -= lr * (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)
 * </pre>
 * Decayed: the projection matrices and the head ([out, in] weights); not the embeddings, norms or lower bounds.
 * Updates the latent full-precision weights, as quantization-aware training needs.
 */
public final class AdamW {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final Map<Param, double[][]> moments = new IdentityHashMap<>();   // param -> {m, v}
    private int step;

    public AdamW(double beta1, double beta2, double eps, double weightDecay) {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(weightDecay >= 0)) {
            throw new TrainException("adamw: need 0 <= beta1, beta2 < 1, eps > 0, weight decay >= 0; got "
                    + beta1 + ", " + beta2 + ", " + eps + ", " + weightDecay);
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    /** Whether weight decay applies to a parameter: the projection and head weights. */
    public static boolean decays(Param p) {
        return p.name().endsWith("proj.weight") || p.name().equals("lm_head.weight");
    }

    public int steps() {
        return step;
    }

    /** The first and second moments {m, v} of a parameter (zeros before its first step); live arrays. */
    public double[][] moments(Param p) {
        return moments.computeIfAbsent(p, q -> new double[][]{new double[q.size()], new double[q.size()]});
    }

    /** Restores a saved state: the step count and, per parameter, its moments (copied). */
    public void restore(int steps, Map<Param, double[][]> saved) {
        if (steps < 0) {
            throw new TrainException("adamw: step count " + steps + " < 0");
        }
        step = steps;
        moments.clear();
        saved.forEach((p, mv) -> {
            if (mv[0].length != p.size() || mv[1].length != p.size()) {
                throw new TrainException("adamw: moments of '" + p.name() + "' have " + mv[0].length + " / " + mv[1].length
                        + " values, the parameter " + p.size());
            }
            moments.put(p, new double[][]{mv[0].clone(), mv[1].clone()});
        });
    }

    /** One update of every parameter from its grad, at learning rate lr. */
    public void step(Collection<Param> params, double lr) {
        step++;
        double c1 = 1 - Math.pow(beta1, step);
        double c2 = 1 - Math.pow(beta2, step);
        for (Param p : params) {
            double[][] mv = moments(p);
            double[] m = mv[0];
            double[] v = mv[1];
            double[] w = p.value();
            double[] g = p.grad();
            double decay = decays(p) ? lr * weightDecay : 0;
            for (int k = 0; k < w.length; k++) {
                m[k] = beta1 * m[k] + (1 - beta1) * g[k];
                v[k] = beta2 * v[k] + (1 - beta2) * g[k] * g[k];
                w[k] -= decay * w[k];
                w[k] -= lr * (m[k] / c1) / (Math.sqrt(v[k] / c2) + eps);
            }
        }
    }

    /** Scales every gradient by min(1, maxNorm / ||g||) with ||g|| the L2 norm over all of them; returns ||g|| before. */
    public static double clipGlobalNorm(Collection<Param> params, double maxNorm) {
        double ss = 0;
        for (Param p : params) {
            for (double g : p.grad()) {
                ss += g * g;
            }
        }
        double norm = Math.sqrt(ss);
        if (norm > maxNorm) {
            double scale = maxNorm / norm;
            for (Param p : params) {
                double[] g = p.grad();
                for (int k = 0; k < g.length; k++) {
                    g[k] *= scale;
                }
            }
        }
        return norm;
    }
}
