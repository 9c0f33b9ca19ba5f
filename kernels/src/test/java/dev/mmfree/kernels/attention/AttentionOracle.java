package dev.mmfree.kernels.attention;

/**
 * Test oracle for causal grouped-query attention over a KV cache, plain Java in double, written from
 * the spec ({@code ../shared/spec/transformerpp.md}): query head h attends with key/value head h / (H/KV)
 * to positions 0..pos with softmax(q . k / sqrt(hd)).
 */
public final class AttentionOracle {
    private AttentionOracle() {
    }

    /**
     * out[r, h] for every row r (sequence r / tps at position pos0 + r % tps).
     *
     * @param q  [rows, H*hd]
     * @param kc [b, cap, KV*hd] keys; vc values likewise
     */
    public static float[] attend(float[] q, float[] kc, float[] vc, int rows, int tps, int pos0, int cap,
                                 int heads, int kvHeads, int hd) {
        int group = heads / kvHeads;
        int kvw = kvHeads * hd;
        double scale = 1.0 / Math.sqrt(hd);
        float[] out = new float[rows * heads * hd];
        for (int r = 0; r < rows; r++) {
            int seq = r / tps;
            int n = pos0 + r % tps + 1;
            for (int h = 0; h < heads; h++) {
                int kvOff = (h / group) * hd;
                double[] w = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int p = 0; p < n; p++) {
                    double dot = 0;
                    for (int j = 0; j < hd; j++) {
                        dot += (double) q[r * heads * hd + h * hd + j] * kc[(seq * cap + p) * kvw + kvOff + j];
                    }
                    w[p] = dot * scale;
                    max = Math.max(max, w[p]);
                }
                double sum = 0;
                for (int p = 0; p < n; p++) {
                    w[p] = Math.exp(w[p] - max);
                    sum += w[p];
                }
                for (int j = 0; j < hd; j++) {
                    double acc = 0;
                    for (int p = 0; p < n; p++) {
                        acc += w[p] * vc[(seq * cap + p) * kvw + kvOff + j];
                    }
                    out[r * heads * hd + h * hd + j] = (float) (acc / sum);
                }
            }
        }
        return out;
    }
}
