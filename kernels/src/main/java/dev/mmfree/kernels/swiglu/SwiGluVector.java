package dev.mmfree.kernels.swiglu;

import dev.mmfree.kernels.rmsnormquant.RmsNormQuantVector;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The gated MLP activation with the Vector API, optionally fused with the down projection's norm
 * and int8 quantizer.
 *
 * <pre>
 *   p[r, j] = silu(gateUp[r, j]) * gateUp[r, n + j]        gateUp: [rows, 2n] = [gate | up], p: [rows, n] float
 *   q[r, :] = quant(RMSNorm_w(p[r, :])), factor[r] = a / 127 (eps 1e-6)
 * </pre>
 * The sigmoid runs in float with the Vector API's exp (SVML on x86), the reference in double, so
 * results agree to a few float ulps, not bit for bit. Rows run on {@link CpuPool} from
 * {@value #PARALLEL_ROWS} rows, dispatched without allocating (a task object kept per calling
 * thread). Test: {@code SwiGluVectorTest}.
 */
public final class SwiGluVector {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int PARALLEL_ROWS = 16;
    private static final ThreadLocal<Rows> ROWS = ThreadLocal.withInitial(Rows::new);

    private SwiGluVector() {
    }

    /** silu(x) = x / (1 + e^-x), lane-wise. */
    public static FloatVector silu(FloatVector x) {
        return x.div(x.neg().lanewise(VectorOperators.EXP).add(1f));
    }

    /** sigmoid(x) = 1 / (1 + e^-x), lane-wise. */
    public static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(F, 1f).div(x.neg().lanewise(VectorOperators.EXP).add(1f));
    }

    /** out[outOff + j] = silu(gate[gOff + j]) * up[uOff + j] for j < n; out may alias gate or up. */
    public static void apply(float[] gate, int gOff, float[] up, int uOff, float[] out, int outOff, int n) {
        int j = 0;
        for (int bound = F.loopBound(n); j < bound; j += F.length()) {
            silu(FloatVector.fromArray(F, gate, gOff + j)).mul(FloatVector.fromArray(F, up, uOff + j)).intoArray(out, outOff + j);
        }
        for (; j < n; j++) {
            float g = gate[gOff + j];
            out[outOff + j] = g / (1f + (float) Math.exp(-g)) * up[uOff + j];
        }
    }

    /** p[r, :] = silu(gate) * up of gateUp[r, :] = [gate | up], r < rows. */
    public static void apply(CpuPool pool, float[] gateUp, int rows, int n, float[] p) {
        check(gateUp, rows, n, p);
        if (rows < PARALLEL_ROWS) {
            applyRows(gateUp, n, p, 0, rows);
        } else {
            Rows.take().dispatch(pool, rows, gateUp, n, null, p, null, null);
        }
    }

    /** {@link #apply(CpuPool, float[], int, int, float[])}, then q[r, :] = quant(RMSNorm_w(p[r, :])) and factor[r]. */
    public static void applyNormQuantize(CpuPool pool, float[] gateUp, int rows, int n, float[] w, float[] p, byte[] q, float[] factor) {
        check(gateUp, rows, n, p);
        if (w.length < n || q.length < rows * n || factor.length < rows) {
            throw new MmfreeException("swiglu: norm weight " + w.length + " (need " + n + "), q " + q.length + " (need " + rows * n
                    + "), factor " + factor.length + " (need " + rows + ")");
        }
        if (rows < PARALLEL_ROWS) {
            applyNormQuantizeRows(gateUp, n, w, p, q, factor, 0, rows);
        } else {
            Rows.take().dispatch(pool, rows, gateUp, n, w, p, q, factor);
        }
    }

    private static void applyRows(float[] gateUp, int n, float[] p, int from, int to) {
        for (int r = from; r < to; r++) {
            apply(gateUp, r * 2 * n, gateUp, r * 2 * n + n, p, r * n, n);
        }
    }

    private static void applyNormQuantizeRows(float[] gateUp, int n, float[] w, float[] p, byte[] q, float[] factor, int from, int to) {
        for (int r = from; r < to; r++) {
            apply(gateUp, r * 2 * n, gateUp, r * 2 * n + n, p, r * n, n);
            factor[r] = RmsNormQuantVector.normQuantize(p, r * n, w, q, r * n, n);
        }
    }

    /**
     * The row loop with its arguments (a capturing lambda would be a new object per call); with a
     * norm weight w it also quantizes. One per calling thread; a nested call takes a fresh one.
     */
    private static final class Rows implements CpuPool.RangeTask {
        private float[] gateUp;
        private int n;
        private float[] w;
        private float[] p;
        private byte[] q;
        private float[] factor;
        private boolean busy;

        static Rows take() {
            Rows r = ROWS.get();
            return r.busy ? new Rows() : r;
        }

        void dispatch(CpuPool pool, int rows, float[] gateUp, int n, float[] w, float[] p, byte[] q, float[] factor) {
            this.gateUp = gateUp;
            this.n = n;
            this.w = w;
            this.p = p;
            this.q = q;
            this.factor = factor;
            busy = true;
            try {
                pool.parallelFor(rows, 1, this);
            } finally {
                this.gateUp = null;
                this.w = null;
                this.p = null;
                this.q = null;
                this.factor = null;
                busy = false;
            }
        }

        @Override
        public void run(int from, int to) {
            if (w == null) {
                applyRows(gateUp, n, p, from, to);
            } else {
                applyNormQuantizeRows(gateUp, n, w, p, q, factor, from, to);
            }
        }
    }

    private static void check(float[] gateUp, int rows, int n, float[] p) {
        if (rows < 1 || n < 1) {
            throw new MmfreeException("swiglu: rows and n must be >= 1, got " + rows + ", " + n);
        }
        if (gateUp.length < rows * 2 * n || p.length < rows * n) {
            throw new MmfreeException("swiglu: gateUp has " + gateUp.length + " values (need " + rows * 2 * n + "), p " + p.length
                    + " (need " + rows * n + ")");
        }
    }
}
