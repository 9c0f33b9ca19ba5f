package dev.mmfree.kernels.gemv;

/**
 * Test oracle for the rotary embedding of the Transformer++ spec ({@code ../shared/spec/transformerpp.md}):
 * inv_freq[j] = theta^(-2j/hd) in float32, angle = p * inv_freq[j] in float32, and per head
 * a[j], a[j + hd/2] = a[j] cos - a[j + hd/2] sin, a[j + hd/2] cos + a[j] sin. Plain Java, written from the spec.
 */
public final class RopeOracle {
    private RopeOracle() {
    }

    public static float[] invFreq(int hd, double theta) {
        float[] f = new float[hd / 2];
        for (int j = 0; j < hd / 2; j++) {
            f[j] = 1.0f / (float) Math.pow(theta, (float) (2 * j) / hd);
        }
        return f;
    }

    /** Rotates heads [off, off + heads * hd) of a in place at position pos. */
    public static void rotate(float[] a, int off, int heads, int hd, float[] invFreq, int pos) {
        int half = hd / 2;
        for (int h = 0; h < heads; h++) {
            int b = off + h * hd;
            for (int j = 0; j < half; j++) {
                float angle = (float) pos * invFreq[j];
                double c = Math.cos(angle);
                double s = Math.sin(angle);
                float first = a[b + j];
                float second = a[b + half + j];
                a[b + j] = (float) (first * c - second * s);
                a[b + half + j] = (float) (second * c + first * s);
            }
        }
    }
}
