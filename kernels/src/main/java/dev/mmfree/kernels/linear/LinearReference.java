package dev.mmfree.kernels.linear;

/**
 * The dense float layer of the Transformer++ baseline, plain Java: the semantic reference.
 *
 * <pre>
 *   y[o] (+)= sum_i W[o, i] * x[i]        W: [out, in] float32 row-major; x: [in]; y: [out]
 * </pre>
 * Sums are taken in double, then rounded once to float: the most exact result a float32 kernel can
 * be compared to.
 */
public final class LinearReference {
    private LinearReference() {
    }

    /** y[yOff..yOff+out) (+)= W x[xOff..xOff+in). */
    public static void forward(float[] w, int out, int in, float[] x, int xOff, float[] y, int yOff, boolean accumulate) {
        if ((long) out * in != w.length) {
            throw new IllegalArgumentException("linear: weight has " + w.length + " values, shape [" + out + ", " + in + "] needs " + (long) out * in);
        }
        for (int o = 0; o < out; o++) {
            double acc = 0;
            for (int i = 0; i < in; i++) {
                acc += (double) w[o * in + i] * x[xOff + i];
            }
            y[yOff + o] = accumulate ? y[yOff + o] + (float) acc : (float) acc;
        }
    }
}
