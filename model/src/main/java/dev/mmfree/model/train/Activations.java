package dev.mmfree.model.train;

/**
 * Element-wise activations in double with their derivatives: {@code sigmoid(x) = 1/(1+e^-x)},
 * {@code silu(x) = x * sigmoid(x)}, {@code silu'(x) = s * (1 + x * (1 - s))}, and SwiGLU
 * {@code out = silu(gate) * up} over rows of {@code [gate | up]}: [n, 2I] -> [n, I].
 */
public final class Activations {
    private Activations() {
    }

    public static double sigmoid(double x) {
        return 1.0 / (1.0 + Math.exp(-x));
    }

    public static double silu(double x) {
        return x * sigmoid(x);
    }

    public static double siluGrad(double x) {
        double s = sigmoid(x);
        return s * (1 + x * (1 - s));
    }

    /** out [n, I] = silu(gateUp[:, :I]) * gateUp[:, I:]. */
    public static void swiGlu(double[] gateUp, int n, int inter, double[] out) {
        for (int row = 0; row < n; row++) {
            int gu = row * 2 * inter;
            for (int k = 0; k < inter; k++) {
                out[row * inter + k] = silu(gateUp[gu + k]) * gateUp[gu + inter + k];
            }
        }
    }

    /** From dOut [n, I] and the forward's gateUp [n, 2I]: adds to dGateUp [n, 2I]. */
    public static void swiGluBackward(double[] dOut, double[] gateUp, int n, int inter, double[] dGateUp) {
        for (int row = 0; row < n; row++) {
            int gu = row * 2 * inter;
            for (int k = 0; k < inter; k++) {
                double g = gateUp[gu + k];
                double up = gateUp[gu + inter + k];
                double dy = dOut[row * inter + k];
                dGateUp[gu + k] += dy * up * siluGrad(g);
                dGateUp[gu + inter + k] += dy * silu(g);
            }
        }
    }
}
