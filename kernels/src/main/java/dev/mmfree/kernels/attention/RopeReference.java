package dev.mmfree.kernels.attention;

/**
 * Rotary position embedding (Llama's default, "rotate half"), plain Java: the semantic reference.
 *
 * <pre>
 *   inv_freq[j] = theta^(-2j/hd), angle = p * inv_freq[j], j < hd/2
 *   a[j] = a[j] cos - a[j + hd/2] sin;   a[j + hd/2] = a[j + hd/2] cos + a[j] sin      per head of size hd
 * </pre>
 * cos, sin: [hd/2] float of one position, computed in float as Hugging Face does
 * ({@link #angles}); rows: [n heads, hd] float.
 */
public final class RopeReference {
    private RopeReference() {
    }

    /** inv_freq[j] = 1 / theta^(2j/hd), float32. */
    public static float[] invFreq(double theta, int hd) {
        float[] f = new float[hd / 2];
        for (int j = 0; j < hd / 2; j++) {
            float exponent = (float) (2 * j) / hd;
            f[j] = 1.0f / (float) Math.pow(theta, exponent);
        }
        return f;
    }

    /** cos[off + j], sin[off + j] of angle pos * invFreq[j]. */
    public static void angles(float[] invFreq, int pos, float[] cos, float[] sin, int off) {
        for (int j = 0; j < invFreq.length; j++) {
            float angle = (float) pos * invFreq[j];
            cos[off + j] = (float) Math.cos(angle);
            sin[off + j] = (float) Math.sin(angle);
        }
    }

    /** Rotates n heads of a[off ..], each [hd], with cos/sin at csOff. */
    public static void rotate(float[] a, int off, int n, int hd, float[] cos, float[] sin, int csOff) {
        int half = hd / 2;
        for (int h = 0; h < n; h++) {
            int b = off + h * hd;
            for (int j = 0; j < half; j++) {
                float first = a[b + j];
                float second = a[b + half + j];
                a[b + j] = first * cos[csOff + j] - second * sin[csOff + j];
                a[b + half + j] = second * cos[csOff + j] + first * sin[csOff + j];
            }
        }
    }
}
