package dev.mmfree.kernels.rmsnormquant;

import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * RMSNorm fused with per-token int8 quantization, Vector API: the input of every BitLinear.
 *
 * <pre>
 *   y = x / sqrt(mean(x^2) + 1e-6) * w;   a = max(max|y|, 1e-5);   q = clamp(rint(y * 127/a), -128, 127)
 *   double norm (a block norm, then each projection's own norm):  h = RMSNorm_outer(x), q_p = quant(RMSNorm_p(h))
 * </pre>
 * x: [rows, d] float; q: [parts, rows, d] int8; factor: [parts, rows] = a / 127. The same float
 * operations in the same order as {@link RmsNormQuantReference} (only the double sum of squares
 * runs in another order), so codes match it exactly. Fused: y is recomputed rather than stored;
 * the double norm stores h (which every part reads) and sums h^2 once for all parts.
 * Rows run on {@link CpuPool} when there are {@value #PARALLEL_ROWS} or more (a prefill); fewer run
 * on the caller. Allocation-free either way: a prefill dispatches a task object kept per calling
 * thread ({@link Rows}), not a lambda.
 * Test: {@code RmsNormQuantVectorTest}.
 */
public final class RmsNormQuantVector {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Double> D = VectorSpecies.of(double.class, VectorShape.forBitSize(F.vectorBitSize()));
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 4));
    static final int PARALLEL_ROWS = 16;
    private static final ThreadLocal<Rows> ROWS = ThreadLocal.withInitial(Rows::new);
    /** 1.5 * 2^23: (v + M) - M rounds v half-to-even to an integer, as Math.rint does, for |v| < 2^22. */
    private static final float ROUND_MAGIC = 12582912f;

    private RmsNormQuantVector() {
    }

    /** 1 / sqrt(mean(x^2) + 1e-6) over x[off .. off + d): a BitLinear's own norm. */
    public static float invRms(float[] x, int off, int d) {
        return invRms(x, off, d, RmsNormQuantReference.EPS);
    }

    /** 1 / sqrt(mean(x^2) + eps) over x[off .. off + d), computed as the reference does. */
    public static float invRms(float[] x, int off, int d, double eps) {
        DoubleVector acc0 = DoubleVector.zero(D);
        DoubleVector acc1 = DoubleVector.zero(D);
        int j = 0;
        for (int bound = F.loopBound(d); j < bound; j += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, off + j);
            FloatVector sq = v.mul(v);
            acc0 = acc0.add(sq.convertShape(VectorOperators.F2D, D, 0));
            acc1 = acc1.add(sq.convertShape(VectorOperators.F2D, D, 1));
        }
        double ss = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; j < d; j++) {
            float v = x[off + j];
            ss += v * v;
        }
        return (float) (1.0 / Math.sqrt(ss / d + eps));
    }

    /** out[outOff ..] = x[xOff ..] * inv * w, d values; out may alias x. */
    public static void scale(float[] x, int xOff, float inv, float[] w, float[] out, int outOff, int d) {
        int j = 0;
        for (int bound = F.loopBound(d); j < bound; j += F.length()) {
            FloatVector.fromArray(F, x, xOff + j).mul(inv).mul(FloatVector.fromArray(F, w, j)).intoArray(out, outOff + j);
        }
        for (; j < d; j++) {
            out[outOff + j] = x[xOff + j] * inv * w[j];
        }
    }

    /** out = RMSNorm_w(x) with eps, one row of d; out may alias x. */
    public static void rmsNorm(float[] x, int xOff, float[] w, float[] out, int outOff, int d, double eps) {
        scale(x, xOff, invRms(x, xOff, d, eps), w, out, outOff, d);
    }

    /** out[r, :] = RMSNorm_w(x[r, :]) with eps for r < rows; out may alias x. */
    public static void rmsNorm(CpuPool pool, float[] x, int rows, int d, float[] w, double eps, float[] out) {
        if (x.length < rows * d || out.length < rows * d || w.length < d) {
            throw new MmfreeException("rmsnorm: x has " + x.length + ", out " + out.length + " values (need " + rows * d + "), w "
                    + w.length + " (need " + d + ")");
        }
        if (rows < PARALLEL_ROWS) {
            rmsNormRows(x, d, w, eps, out, 0, rows);
        } else {
            Rows task = Rows.take();
            task.op = Rows.RMS_NORM;
            task.x = x;
            task.d = d;
            task.w = w;
            task.eps = eps;
            task.out = out;
            task.dispatch(pool, rows);
        }
    }

    private static void rmsNormRows(float[] x, int d, float[] w, double eps, float[] out, int from, int to) {
        for (int r = from; r < to; r++) {
            rmsNorm(x, r * d, w, out, r * d, d, eps);
        }
    }

    /** Quantizes y = x * inv * w (never stored) into q[qOff .. qOff + d); returns a / 127. */
    public static float quantizeScaled(float[] x, int xOff, float inv, float[] w, byte[] q, int qOff, int d) {
        FloatVector amaxV = FloatVector.zero(F);
        int bound = F.loopBound(d);
        int j = 0;
        for (; j < bound; j += F.length()) {
            FloatVector y = FloatVector.fromArray(F, x, xOff + j).mul(inv).mul(FloatVector.fromArray(F, w, j));
            amaxV = amaxV.max(y.abs());
        }
        float amax = amaxV.reduceLanes(VectorOperators.MAX);
        for (; j < d; j++) {
            amax = Math.max(amax, Math.abs(x[xOff + j] * inv * w[j]));
        }
        amax = Math.max(amax, 1e-5f);
        float s = 127.0f / amax;
        for (j = 0; j < bound; j += F.length()) {
            FloatVector y = FloatVector.fromArray(F, x, xOff + j).mul(inv).mul(FloatVector.fromArray(F, w, j)).mul(s);
            FloatVector r = y.add(ROUND_MAGIC).sub(ROUND_MAGIC).max(-128f).min(127f);
            ((ByteVector) r.convertShape(VectorOperators.F2B, B, 0)).intoArray(q, qOff + j);
        }
        for (; j < d; j++) {
            float r = (float) Math.rint(x[xOff + j] * inv * w[j] * s);
            q[qOff + j] = (byte) Math.max(-128f, Math.min(127f, r));
        }
        return 1.0f / s;
    }

    /** RMSNorm_w then quantize, one row: returns a / 127. */
    public static float normQuantize(float[] x, int xOff, float[] w, byte[] q, int qOff, int d) {
        return quantizeScaled(x, xOff, invRms(x, xOff, d), w, q, qOff, d);
    }

    /** q[r, :] = quant(RMSNorm_w(x[r, :])), factor[r] = its a / 127, for r < rows. */
    public static void normQuantize(CpuPool pool, float[] x, int rows, int d, float[] w, byte[] q, float[] factor) {
        check("normQuantize", x, rows, d, w, 1, q, factor);
        if (rows < PARALLEL_ROWS) {
            normQuantizeRows(x, d, w, q, factor, 0, rows);
        } else {
            Rows task = Rows.take();
            task.op = Rows.NORM_QUANTIZE;
            task.x = x;
            task.d = d;
            task.w = w;
            task.q = q;
            task.factor = factor;
            task.dispatch(pool, rows);
        }
    }

    private static void normQuantizeRows(float[] x, int d, float[] w, byte[] q, float[] factor, int from, int to) {
        for (int r = from; r < to; r++) {
            factor[r] = normQuantize(x, r * d, w, q, r * d, d);
        }
    }

    /**
     * The double norm: h[r, :] = RMSNorm_outer(x[r, :]) with outerEps (the model's block norm); for
     * each part p, q[p, r, :] = quant(RMSNorm_{parts[p]}(h[r, :])) (eps 1e-6) and factor[p * rows + r] its a / 127.
     *
     * @param h [rows, d] receives the block norm's output
     */
    public static void normNormQuantize(CpuPool pool, float[] x, int rows, int d, float[] outer, double outerEps, float[][] parts,
                                        float[] h, byte[] q, float[] factor) {
        check("normNormQuantize", x, rows, d, outer, parts.length, q, factor);
        for (int p = 0; p < parts.length; p++) {
            if (parts[p].length < d) {
                throw new MmfreeException("rmsnormquant: part " + p + " norm weight has " + parts[p].length + " values < d " + d);
            }
        }
        if (h.length < rows * d) {
            throw new MmfreeException("rmsnormquant: h has " + h.length + " values < rows " + rows + " x d " + d);
        }
        if (rows < PARALLEL_ROWS) {
            normNormQuantizeRows(x, rows, d, outer, outerEps, parts, h, q, factor, 0, rows);
        } else {
            Rows task = Rows.take();
            task.op = Rows.NORM_NORM_QUANTIZE;
            task.x = x;
            task.rows = rows;
            task.d = d;
            task.w = outer;
            task.eps = outerEps;
            task.parts = parts;
            task.out = h;
            task.q = q;
            task.factor = factor;
            task.dispatch(pool, rows);
        }
    }

    private static void normNormQuantizeRows(float[] x, int rows, int d, float[] outer, double outerEps, float[][] parts, float[] h,
                                             byte[] q, float[] factor, int from, int to) {
        for (int r = from; r < to; r++) {
            rmsNorm(x, r * d, outer, h, r * d, d, outerEps);
            float inv = invRms(h, r * d, d);
            for (int p = 0; p < parts.length; p++) {
                factor[p * rows + r] = quantizeScaled(h, r * d, inv, parts[p], q, (p * rows + r) * d, d);
            }
        }
    }

    /**
     * One row loop of this class with its arguments: a lambda capturing them would be a new object
     * per call. One per calling thread, reused; a nested call (from inside a task) takes a fresh one.
     */
    private static final class Rows implements CpuPool.RangeTask {
        static final int RMS_NORM = 0;
        static final int NORM_QUANTIZE = 1;
        static final int NORM_NORM_QUANTIZE = 2;

        int op;
        float[] x;
        int rows;
        int d;
        float[] w;
        double eps;
        float[][] parts;
        float[] out;
        byte[] q;
        float[] factor;
        private boolean busy;

        static Rows take() {
            Rows r = ROWS.get();
            return r.busy ? new Rows() : r;
        }

        void dispatch(CpuPool pool, int n) {
            busy = true;
            try {
                pool.parallelFor(n, 1, this);
            } finally {
                x = null;
                w = null;
                parts = null;
                out = null;
                q = null;
                factor = null;
                busy = false;
            }
        }

        @Override
        public void run(int from, int to) {
            switch (op) {
                case RMS_NORM -> rmsNormRows(x, d, w, eps, out, from, to);
                case NORM_QUANTIZE -> normQuantizeRows(x, d, w, q, factor, from, to);
                default -> normNormQuantizeRows(x, rows, d, w, eps, parts, out, q, factor, from, to);
            }
        }
    }

    private static void check(String op, float[] x, int rows, int d, float[] w, int parts, byte[] q, float[] factor) {
        if (rows < 1 || d < 1) {
            throw new MmfreeException("rmsnormquant." + op + ": rows and d must be >= 1, got " + rows + ", " + d);
        }
        if (x.length < rows * d || w.length < d) {
            throw new MmfreeException("rmsnormquant." + op + ": x has " + x.length + " values (need " + rows * d + "), w " + w.length + " (need " + d + ")");
        }
        if (q.length < parts * rows * d || factor.length < parts * rows) {
            throw new MmfreeException("rmsnormquant." + op + ": q has " + q.length + " values (need " + parts * rows * d + "), factor "
                    + factor.length + " (need " + parts * rows + ")");
        }
    }
}
