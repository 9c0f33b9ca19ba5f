package dev.mmfree.model.train;

/** Embedding lookup {@code x[r] = E[token[r]]}, E [V, d], x [n, d]; backward scatter-adds {@code dE[token[r]] += dx[r]}. */
public final class Embedding {
    private Embedding() {
    }

    public static double[] forward(double[] table, int vocab, int d, int[] tokens) {
        double[] x = new double[tokens.length * d];
        for (int r = 0; r < tokens.length; r++) {
            if (tokens[r] < 0 || tokens[r] >= vocab) {
                throw new TrainException("embedding: token " + tokens[r] + " at row " + r + " outside [0, " + vocab + ")");
            }
            System.arraycopy(table, tokens[r] * d, x, r * d, d);
        }
        return x;
    }

    public static void backward(double[] dx, int[] tokens, int d, double[] dTable) {
        for (int r = 0; r < tokens.length; r++) {
            for (int j = 0; j < d; j++) {
                dTable[tokens[r] * d + j] += dx[r * d + j];
            }
        }
    }
}
