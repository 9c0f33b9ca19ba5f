package dev.mmfree.kernels.rmsnormquant;

/**
 * RMSNorm and per-token int8 activation quantization, plain Java: the semantic reference.
 *
 * <pre>
 *   RMSNorm_w(x) = x / sqrt(mean(x^2) + eps) * w            over the last dimension, eps = 1e-6
 *   quantize(y): a = max(max|y|, 1e-5); q = clamp(rint(y * (127 / a)), -128, 127) int8
 *                the dequantized value is q * a / 127, returned here as the factor a / 127
 * </pre>
 * A BitLinear's input goes through its own RMSNorm and then this quantizer; for the first
 * projections of a block that norm follows the block's norm, so two norms run in a row.
 */
public final class RmsNormQuantReference {
    public static final float EPS = 1e-6f;

    private RmsNormQuantReference() {
    }

    /** out[off..off+d) = RMSNorm_w(x[off..off+d)) with eps = {@link #EPS}; out may alias x. */
    public static void rmsNorm(float[] x, int xOff, float[] w, float[] out, int outOff, int d) {
        rmsNorm(x, xOff, w, out, outOff, d, EPS);
    }

    /** out[off..off+d) = RMSNorm_w(x[off..off+d)) with a given eps (a model's block norms); out may alias x. */
    public static void rmsNorm(float[] x, int xOff, float[] w, float[] out, int outOff, int d, double eps) {
        double ss = 0;
        for (int j = 0; j < d; j++) {
            float v = x[xOff + j];
            ss += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt(ss / d + eps));
        for (int j = 0; j < d; j++) {
            out[outOff + j] = x[xOff + j] * inv * w[j];
        }
    }

    /**
     * Quantizes y[off..off+d) to int8 codes in q[qOff..qOff+d) and returns the dequantization factor
     * {@code a / 127} (the value a code stands for is {@code code * factor}).
     */
    public static float quantize(float[] y, int yOff, byte[] q, int qOff, int d) {
        float a = 0;
        for (int j = 0; j < d; j++) {
            a = Math.max(a, Math.abs(y[yOff + j]));
        }
        a = Math.max(a, 1e-5f);
        float scale = 127.0f / a;
        for (int j = 0; j < d; j++) {
            float r = (float) Math.rint(y[yOff + j] * scale);
            q[qOff + j] = (byte) Math.max(-128f, Math.min(127f, r));
        }
        return 1.0f / scale;
    }

    /** RMSNorm_w then quantize, one row: the input of a BitLinear. Returns the factor a / 127. */
    public static float normQuantize(float[] x, int xOff, float[] w, byte[] q, int qOff, int d, float[] scratch) {
        rmsNorm(x, xOff, w, scratch, 0, d);
        return quantize(scratch, 0, q, qOff, d);
    }
}
