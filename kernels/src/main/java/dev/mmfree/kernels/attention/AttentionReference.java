package dev.mmfree.kernels.attention;

/**
 * Causal multi-head attention over a KV cache, plain Java: the semantic reference
 * ({@code ../shared/spec/transformerpp.md}).
 *
 * <pre>
 *   out[k, h] = sum_p softmax_p(q[k, h] . K[h / g, p] / sqrt(hd)) V[h / g, p]      p = 0 .. pos0 + k
 * </pre>
 * One sequence: q, out: [t, H*hd] float (token k at position pos0 + k, already rotated);
 * keys, values: [KV, capacity, hd] float from kvOff, positions 0 .. pos0 + t - 1 filled;
 * g = H / KV query heads share a key/value head. Dots and sums in double, as the Llama reference.
 */
public final class AttentionReference {
    private AttentionReference() {
    }

    public static void forward(float[] q, int qOff, int t, int heads, int kvHeads, int hd, float[] keys, float[] values, int kvOff,
                               int capacity, int pos0, float[] out, int outOff) {
        int group = heads / kvHeads;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int k = 0; k < t; k++) {
            int last = pos0 + k;
            float[] scores = new float[last + 1];
            for (int h = 0; h < heads; h++) {
                int qh = qOff + (k * heads + h) * hd;
                int base = kvOff + (h / group) * capacity * hd;
                float max = Float.NEGATIVE_INFINITY;
                for (int p = 0; p <= last; p++) {
                    double dot = 0;
                    for (int j = 0; j < hd; j++) {
                        dot += (double) q[qh + j] * keys[base + p * hd + j];
                    }
                    scores[p] = (float) dot * scale;
                    max = Math.max(max, scores[p]);
                }
                double sum = 0;
                for (int p = 0; p <= last; p++) {
                    scores[p] = (float) Math.exp(scores[p] - max);
                    sum += scores[p];
                }
                for (int j = 0; j < hd; j++) {
                    double acc = 0;
                    for (int p = 0; p <= last; p++) {
                        acc += (double) scores[p] * values[base + p * hd + j];
                    }
                    out[outOff + (k * heads + h) * hd + j] = (float) (acc / sum);
                }
            }
        }
    }
}
