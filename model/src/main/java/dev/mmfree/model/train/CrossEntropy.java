package dev.mmfree.model.train;

import java.util.Arrays;

/**
 * Mean softmax cross-entropy over the rows that have a target: logits [n, V], targets [n] with
 * -1 for "no target". {@code loss = mean_r (logsumexp(z_r) - z_r[y_r])};
 * {@code dz_r = (softmax(z_r) - onehot(y_r)) / count}.
 */
public final class CrossEntropy {
    public static final int IGNORE = -1;

    private CrossEntropy() {
    }

    /** Returns the mean loss and writes dLogits [n, V] (zero in ignored rows). */
    public static double forwardBackward(double[] logits, int[] targets, int vocab, double[] dLogits) {
        int count = 0;
        for (int y : targets) {
            if (y != IGNORE && (y < 0 || y >= vocab)) {
                throw new TrainException("cross-entropy: target " + y + " outside [0, " + vocab + ")");
            }
            count += y == IGNORE ? 0 : 1;
        }
        if (count == 0) {
            throw new TrainException("cross-entropy: no row has a target");
        }
        Arrays.fill(dLogits, 0);
        double loss = 0;
        for (int r = 0; r < targets.length; r++) {
            if (targets[r] == IGNORE) {
                continue;
            }
            int o = r * vocab;
            double max = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < vocab; k++) {
                max = Math.max(max, logits[o + k]);
            }
            double sum = 0;
            for (int k = 0; k < vocab; k++) {
                sum += Math.exp(logits[o + k] - max);
            }
            loss += max + Math.log(sum) - logits[o + targets[r]];
            for (int k = 0; k < vocab; k++) {
                dLogits[o + k] = Math.exp(logits[o + k] - max) / sum / count;
            }
            dLogits[o + targets[r]] -= 1.0 / count;
        }
        return loss / count;
    }
}
