package dev.mmfree.model.train;

/**
 * The forget-gate floors from the raw parameter, per channel j: {@code p = softmax over layers of raw[:, j]},
 * {@code lb[l] = cumsum(p)[l] - p[0]} (so lb[0] = 0). raw, p, lb: [L, d].
 * Backward: {@code dp[k] = sum_{l >= k} dlb[l] - sum_l dlb[l] * [k = 0]}, then softmax's
 * {@code draw[k] = p[k] * (dp[k] - sum_m p[m] dp[m])}.
 */
public final class LowerBounds {
    private LowerBounds() {
    }

    /** Writes lb [L, d] and the softmax p [L, d]. */
    public static void forward(double[] raw, int layers, int d, double[] lb, double[] p) {
        for (int j = 0; j < d; j++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int l = 0; l < layers; l++) {
                max = Math.max(max, raw[l * d + j]);
            }
            double sum = 0;
            for (int l = 0; l < layers; l++) {
                p[l * d + j] = Math.exp(raw[l * d + j] - max);
                sum += p[l * d + j];
            }
            double cum = 0;
            for (int l = 0; l < layers; l++) {
                p[l * d + j] /= sum;
                cum += p[l * d + j];
                lb[l * d + j] = cum - p[j];
            }
        }
    }

    /** From dlb [L, d] and the forward's p [L, d]: adds to draw [L, d]. */
    public static void backward(double[] dlb, double[] p, int layers, int d, double[] draw) {
        double[] dp = new double[layers];
        for (int j = 0; j < d; j++) {
            double suffix = 0;
            for (int l = layers - 1; l >= 0; l--) {
                suffix += dlb[l * d + j];
                dp[l] = suffix;
            }
            dp[0] -= suffix;
            double dot = 0;
            for (int l = 0; l < layers; l++) {
                dot += p[l * d + j] * dp[l];
            }
            for (int l = 0; l < layers; l++) {
                draw[l * d + j] += p[l * d + j] * (dp[l] - dot);
            }
        }
    }
}
