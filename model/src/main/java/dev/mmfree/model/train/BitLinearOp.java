package dev.mmfree.model.train;

/**
 * A trainable BitLinear with fake quantization: {@code y = quantA(RMSNorm_wNorm(x)) · ternarize(W)^T}
 * with x [n, in], W [out, in], wNorm [in], y [n, out]; the BitLinear norm's eps is 1e-6 always.
 * With {@code quantize} off both quantizers are the identity (a plain RMSNorm + linear, so finite
 * differences apply). Backward with the straight-through estimator:
 * {@code dW += dy^T · xq} (to the latent weights), {@code dxn = dy · ternarize(W)}, then RMSNorm's backward.
 *
 * <p>The variants give the same gradients, exactly (same operations in the same order):
 * VANILLA keeps the normalized, quantized input xq [n, in] for backward; FUSED keeps only the inverse
 * rms per row [n] and recomputes xq in backward, the memory saving of a fused kernel.
 * Each instance remembers its last forward, so it is used once per forward pass.
 */
public final class BitLinearOp {
    public static final double EPS = 1e-6;

    public enum Variant { VANILLA, FUSED }

    private final Param weight;   // [out, in]
    private final Param norm;     // [in]
    private final int out;
    private final int in;
    private final boolean quantize;
    private final Variant variant;

    private double[] x;           // [n, in] the input of the last forward (the caller's array)
    private double[] r;           // [n] inverse rms of each input row
    private double[] xq;          // [n, in] VANILLA only: the normalized, quantized input
    private double[] wEff;        // [out, in] ternarize(W), or W itself when not quantizing
    private int n;

    public BitLinearOp(Param weight, Param norm, boolean quantize, Variant variant) {
        if (weight.shape().length != 2 || norm.size() != weight.shape()[1]) {
            throw new TrainException("bitlinear '" + weight.name() + "': norm length " + norm.size()
                    + " != weight in-dim " + weight.shape()[weight.shape().length - 1]);
        }
        this.weight = weight;
        this.norm = norm;
        this.out = weight.shape()[0];
        this.in = weight.shape()[1];
        this.quantize = quantize;
        this.variant = variant;
    }

    public int in() {
        return in;
    }

    public int out() {
        return out;
    }

    /** y [n, out] from x [n, in]; x must stay unchanged until backward. */
    public double[] forward(double[] x, int n) {
        if (x.length != n * in) {
            throw new TrainException("bitlinear '" + weight.name() + "': input length " + x.length + " != " + n + " x " + in);
        }
        this.x = x;
        this.n = n;
        r = new double[n];
        double[] xn = normalized(x, n, r);
        if (quantize) {
            wEff = new double[out * in];
            FakeQuant.ternarize(weight.value(), wEff);
        } else {
            wEff = weight.value();
        }
        double[] y = new double[n * out];
        for (int row = 0; row < n; row++) {
            for (int o = 0; o < out; o++) {
                double acc = 0;
                for (int j = 0; j < in; j++) {
                    acc += xn[row * in + j] * wEff[o * in + j];
                }
                y[row * out + o] = acc;
            }
        }
        xq = variant == Variant.VANILLA ? xn : null;
        return y;
    }

    /** From dy [n, out]: adds to the weight's and norm's gradients and returns dx [n, in]. */
    public double[] backward(double[] dy) {
        if (x == null || dy.length != n * out) {
            throw new TrainException("bitlinear '" + weight.name() + "': backward without forward, or dy length "
                    + dy.length + " != " + n + " x " + out);
        }
        double[] xn = variant == Variant.VANILLA ? xq : recompute();
        double[] dW = weight.grad();
        double[] dxn = new double[n * in];
        for (int row = 0; row < n; row++) {
            for (int o = 0; o < out; o++) {
                double g = dy[row * out + o];
                if (g == 0) {
                    continue;
                }
                for (int j = 0; j < in; j++) {
                    dW[o * in + j] += g * xn[row * in + j];
                    dxn[row * in + j] += g * wEff[o * in + j];
                }
            }
        }
        double[] dx = new double[n * in];
        RmsNorm.backward(dxn, x, r, norm.value(), n, in, dx, norm.grad());
        x = null;
        xq = null;
        return dx;
    }

    /** FUSED: xq again from the kept input and inverse rms, by the forward's own arithmetic. */
    private double[] recompute() {
        double[] w = norm.value();
        double[] xn = new double[n * in];
        for (int row = 0; row < n; row++) {
            for (int j = 0; j < in; j++) {
                xn[row * in + j] = x[row * in + j] * r[row] * w[j];
            }
        }
        if (quantize) {
            FakeQuant.activations(xn, n, in, xn);
        }
        return xn;
    }

    private double[] normalized(double[] x, int n, double[] r) {
        double[] xn = new double[n * in];
        RmsNorm.forward(x, norm.value(), EPS, n, in, xn, r);
        if (quantize) {
            FakeQuant.activations(xn, n, in, xn);
        }
        return xn;
    }
}
