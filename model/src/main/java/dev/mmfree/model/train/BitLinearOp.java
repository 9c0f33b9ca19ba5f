package dev.mmfree.model.train;

import dev.mmfree.runtime.cpu.CpuPool;

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
 *
 * <p>The three matmuls run on a {@link CpuPool}, split so that each output element is summed by one
 * thread in the serial order (y and dx by rows, dW by output rows): results are bit-identical for
 * every thread count. Blocks of {@value #TILE} rows (or weight rows) share each load of the other operand.
 */
public final class BitLinearOp {
    public static final double EPS = 1e-6;
    private static final int TILE = 4;

    public enum Variant { VANILLA, FUSED }

    private final Param weight;   // [out, in]
    private final Param norm;     // [in]
    private final int out;
    private final int in;
    private final boolean quantize;
    private final Variant variant;
    private final CpuPool pool;

    private double[] x;           // [n, in] the input of the last forward (the caller's array)
    private double[] r;           // [n] inverse rms of each input row
    private double[] xq;          // [n, in] VANILLA only: the normalized, quantized input
    private double[] wEff;        // [out, in] ternarize(W), or W itself when not quantizing
    private int n;

    public BitLinearOp(Param weight, Param norm, boolean quantize, Variant variant) {
        this(weight, norm, quantize, variant, CpuPool.shared());
    }

    public BitLinearOp(Param weight, Param norm, boolean quantize, Variant variant, CpuPool pool) {
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
        this.pool = pool;
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
        double[] w = wEff;
        pool.parallelFor(n, TILE, (from, to) -> matmulRows(xn, w, y, from, to));
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
        pool.parallelFor(out, TILE, (from, to) -> accumulateDw(dy, xn, dW, from, to));
        pool.parallelFor(n, TILE, (from, to) -> accumulateDxn(dy, dxn, from, to));
        double[] dx = new double[n * in];
        RmsNorm.backward(dxn, x, r, norm.value(), n, in, dx, norm.grad());
        x = null;
        r = null;
        xq = null;
        wEff = null;
        return dx;
    }

    /** Bytes this op keeps from forward for backward: its input, the inverse rms, VANILLA's xq; the ternarized weight. */
    public void countSaved(SavedBytes saved) {
        saved.activation(x).activation(r).activation(xq);
        if (quantize) {
            saved.weight(wEff);
        }
    }

    /** y[row, o] = sum_j xn[row, j] * w[o, j] for rows [from, to), in j order per element. */
    private void matmulRows(double[] xn, double[] w, double[] y, int from, int to) {
        int row = from;
        for (; row + TILE <= to; row += TILE) {
            int x0 = row * in;
            int x1 = x0 + in;
            int x2 = x1 + in;
            int x3 = x2 + in;
            for (int o = 0; o < out; o++) {
                int wo = o * in;
                double a0 = 0;
                double a1 = 0;
                double a2 = 0;
                double a3 = 0;
                for (int j = 0; j < in; j++) {
                    double wj = w[wo + j];
                    a0 += xn[x0 + j] * wj;
                    a1 += xn[x1 + j] * wj;
                    a2 += xn[x2 + j] * wj;
                    a3 += xn[x3 + j] * wj;
                }
                y[row * out + o] = a0;
                y[(row + 1) * out + o] = a1;
                y[(row + 2) * out + o] = a2;
                y[(row + 3) * out + o] = a3;
            }
        }
        for (; row < to; row++) {
            for (int o = 0; o < out; o++) {
                double acc = 0;
                for (int j = 0; j < in; j++) {
                    acc += xn[row * in + j] * w[o * in + j];
                }
                y[row * out + o] = acc;
            }
        }
    }

    /** dW[o, j] += sum_row dy[row, o] * xn[row, j] for weight rows [from, to), in row order per element. */
    private void accumulateDw(double[] dy, double[] xn, double[] dW, int from, int to) {
        int o = from;
        for (; o + TILE <= to; o += TILE) {
            int w0 = o * in;
            int w1 = w0 + in;
            int w2 = w1 + in;
            int w3 = w2 + in;
            for (int row = 0; row < n; row++) {
                int g = row * out + o;
                double g0 = dy[g];
                double g1 = dy[g + 1];
                double g2 = dy[g + 2];
                double g3 = dy[g + 3];
                int xr = row * in;
                for (int j = 0; j < in; j++) {
                    double xj = xn[xr + j];
                    dW[w0 + j] += g0 * xj;
                    dW[w1 + j] += g1 * xj;
                    dW[w2 + j] += g2 * xj;
                    dW[w3 + j] += g3 * xj;
                }
            }
        }
        for (; o < to; o++) {
            for (int row = 0; row < n; row++) {
                double g = dy[row * out + o];
                for (int j = 0; j < in; j++) {
                    dW[o * in + j] += g * xn[row * in + j];
                }
            }
        }
    }

    /** dxn[row, j] += sum_o dy[row, o] * wEff[o, j] for rows [from, to), in o order per element. */
    private void accumulateDxn(double[] dy, double[] dxn, int from, int to) {
        double[] w = wEff;
        int row = from;
        for (; row + TILE <= to; row += TILE) {
            int x0 = row * in;
            int x1 = x0 + in;
            int x2 = x1 + in;
            int x3 = x2 + in;
            for (int o = 0; o < out; o++) {
                double g0 = dy[row * out + o];
                double g1 = dy[(row + 1) * out + o];
                double g2 = dy[(row + 2) * out + o];
                double g3 = dy[(row + 3) * out + o];
                int wo = o * in;
                for (int j = 0; j < in; j++) {
                    double wj = w[wo + j];
                    dxn[x0 + j] += g0 * wj;
                    dxn[x1 + j] += g1 * wj;
                    dxn[x2 + j] += g2 * wj;
                    dxn[x3 + j] += g3 * wj;
                }
            }
        }
        for (; row < to; row++) {
            for (int o = 0; o < out; o++) {
                double g = dy[row * out + o];
                for (int j = 0; j < in; j++) {
                    dxn[row * in + j] += g * w[o * in + j];
                }
            }
        }
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
