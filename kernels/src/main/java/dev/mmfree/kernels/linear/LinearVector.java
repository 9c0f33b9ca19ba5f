package dev.mmfree.kernels.linear;

import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.S2I;

/**
 * The dense layer of the Transformer++ baseline on CPU cores with the Vector API (GEMV for t = 1,
 * GEMM for t > 1), weights in float32 or float16 storage.
 *
 * <pre>
 *   y[r, o] (+)= sum_i W[o, i] * x[r, i]        W: parts stacked along out, each [out_p, in]; x: [rows, in]; y: [rows, outTotal]
 * </pre>
 * Float32 sums in float lanes (the reference sums in double: agreement to ~1e-6 relative). Float16
 * storage halves the bytes read; each weight is widened in registers: sign-extend to int, shift the
 * exponent and mantissa into place ({@code (h << 13) & 0x8FFFE000}), reinterpret, multiply by 2^112,
 * exact for every finite half (infinities are refused at conversion). Measured against converting
 * a row to float first ({@code Float.float16ToFloat} in a loop, which C2 turns into vcvtph2ps): see
 * {@code LinearBench}. Rows run in parallel on {@link CpuPool}, four at a time (four weight streams
 * a core, as {@code BitLinearVector} runs four row tiles). For t >= 4, blocks of 4 rows x 4
 * tokens (16 accumulators, 16 FMAs per 8 loads) so the loads keep up with the FMAs, float16 rows
 * widened first into a per-thread scratch of 4 rows (a 4 x 4 block that widens in registers grew
 * too large for C2, which then boxed its vectors: 10x slower), {@value #ROW_TILE} tokens per pass.
 * Not thread-safe (one call at a time per instance). Test: {@code LinearVectorTest}.
 */
public final class LinearVector {
    /** How the weights are held. */
    public enum Storage { F32, F16 }

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    static final VectorSpecies<Short> H = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    static final int LANES = F.length();
    private static final int ROW_GRAIN = 16;
    /** Tokens per pass over the weights: their activations stay in L2 while every row is read once. */
    static final int ROW_TILE = 32;
    /**
     * Half bits widened to int, {@code (h << 13) & HALF_MASK} reinterpreted, times HALF_BIAS: the
     * float, exact for finite halves. Written out at each use, not as a helper: when C2 stops
     * inlining a helper in a large caller (NodeCountInliningCutoff), its vector arguments and
     * result are boxed, one allocation per weight vector (seen in {@code CpuAllocationTest}).
     */
    private static final float HALF_BIAS = 0x1p112f;
    private static final int HALF_MASK = 0x8FFFE000;
    private static final ThreadLocal<float[]> ROWS4 = ThreadLocal.withInitial(() -> new float[0]);

    private final int in;
    private final int out;
    private final Storage storage;
    private final int[] partStart;   // [parts + 1]
    private final float[][] w32;     // [parts][out_p * in], or null
    private final short[][] w16;     // [parts][out_p * in] IEEE half bits, or null
    private final CpuPool pool;
    private final Call call = new Call();

    /** Stacks the parts (each [out_p, in] row-major float32); F32 keeps the arrays (not copied), F16 converts them. */
    public LinearVector(CpuPool pool, Storage storage, int in, float[]... parts) {
        if (in < 1 || parts.length == 0) {
            throw new MmfreeException("linear: need in >= 1 and at least one part, got in " + in + ", " + parts.length + " parts");
        }
        this.pool = pool;
        this.in = in;
        this.storage = storage;
        this.partStart = new int[parts.length + 1];
        int total = 0;
        for (int p = 0; p < parts.length; p++) {
            if (parts[p].length % in != 0 || parts[p].length == 0) {
                throw new MmfreeException("linear: part " + p + " has " + parts[p].length + " values, not a whole number of rows of in " + in);
            }
            partStart[p] = total;
            total += parts[p].length / in;
        }
        this.out = total;
        partStart[parts.length] = total;
        if (storage == Storage.F32) {
            this.w32 = parts.clone();
            this.w16 = null;
        } else {
            this.w32 = null;
            this.w16 = new short[parts.length][];
            for (int p = 0; p < parts.length; p++) {
                w16[p] = toHalf(parts[p], p);
            }
        }
    }

    static short[] toHalf(float[] w, int part) {
        short[] h = new short[w.length];
        for (int i = 0; i < w.length; i++) {
            h[i] = Float.floatToFloat16(w[i]);
            if (Float.isInfinite(Float.float16ToFloat(h[i])) || Float.isNaN(w[i])) {
                throw new MmfreeException("linear: part " + part + " weight " + i + " = " + w[i] + " has no finite float16");
            }
        }
        return h;
    }

    public int in() {
        return in;
    }

    public int out() {
        return out;
    }

    public Storage storage() {
        return storage;
    }

    /** Bytes the weights occupy as held. */
    public long weightBytes() {
        return (long) out * in * (storage == Storage.F32 ? 4 : 2);
    }

    /** y[yOff + r * out() + o] (+)= W[o, :] . x[xOff + r * in ..] for r < rows. */
    public void forward(float[] x, int xOff, int rows, float[] y, int yOff, boolean accumulate) {
        if (rows < 1) {
            throw new MmfreeException("linear: rows must be >= 1, got " + rows);
        }
        if (x.length - (long) xOff < (long) rows * in) {
            throw new MmfreeException("linear: x has " + (x.length - xOff) + " values past offset < " + rows + " rows x in " + in);
        }
        if (y.length - (long) yOff < (long) rows * out) {
            throw new MmfreeException("linear: y has " + (y.length - yOff) + " values past offset < " + rows + " rows x out " + out);
        }
        for (int r0 = 0; r0 < rows; r0 += ROW_TILE) {
            call.set(x, xOff + r0 * in, Math.min(ROW_TILE, rows - r0), y, yOff + r0 * out, accumulate);
            pool.parallelFor(out, ROW_GRAIN, call);
        }
        call.set(null, 0, 0, null, 0, false);
    }

    private final class Call implements CpuPool.RangeTask {
        private float[] x;
        private int xOff;
        private int rows;
        private float[] y;
        private int yOff;
        private boolean accumulate;

        void set(float[] x, int xOff, int rows, float[] y, int yOff, boolean accumulate) {
            this.x = x;
            this.xOff = xOff;
            this.rows = rows;
            this.y = y;
            this.yOff = yOff;
            this.accumulate = accumulate;
        }

        @Override
        public void run(int from, int to) {
            for (int p = 0; p + 1 < partStart.length; p++) {
                int lo = Math.max(from, partStart[p]);
                int hi = Math.min(to, partStart[p + 1]);
                int o = lo;
                for (; o + 4 <= hi; o += 4) {
                    int wOff = (o - partStart[p]) * in;
                    int r = 0;
                    if (rows >= 4) {
                        float[] w = storage == Storage.F32 ? w32[p] : widenRows(w16[p], wOff);
                        for (; r + 4 <= rows; r += 4) {
                            dot4x4(w, storage == Storage.F32 ? wOff : 0, o, r);
                        }
                    }
                    for (; r < rows; r++) {
                        if (storage == Storage.F32) {
                            dot4x1(w32[p], wOff, o, r);
                        } else {
                            dot4x1Half(w16[p], wOff, o, r);
                        }
                    }
                }
                for (; o < hi; o++) {
                    int wOff = (o - partStart[p]) * in;
                    int r = 0;
                    for (; r + 4 <= rows; r += 4) {
                        if (storage == Storage.F32) {
                            dot4(w32[p], wOff, o, r);
                        } else {
                            dot4Half(w16[p], wOff, o, r);
                        }
                    }
                    for (; r < rows; r++) {
                        float v = storage == Storage.F32 ? dot1(w32[p], wOff, x, xOff + r * in) : dot1Half(w16[p], wOff, x, xOff + r * in);
                        store(r, o, v);
                    }
                }
            }
        }

        /** Rows o..o+3 against token r: four weight streams at once keep more DRAM reads in flight (a decode step). */
        private void dot4x1(float[] w, int wOff, int o, int r) {
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = FloatVector.zero(F);
            FloatVector a2 = FloatVector.zero(F);
            FloatVector a3 = FloatVector.zero(F);
            int a = xOff + r * in;
            int j = 0;
            for (int bound = F.loopBound(in); j < bound; j += LANES) {
                FloatVector xv = FloatVector.fromArray(F, x, a + j);
                a0 = FloatVector.fromArray(F, w, wOff + j).fma(xv, a0);
                a1 = FloatVector.fromArray(F, w, wOff + in + j).fma(xv, a1);
                a2 = FloatVector.fromArray(F, w, wOff + 2 * in + j).fma(xv, a2);
                a3 = FloatVector.fromArray(F, w, wOff + 3 * in + j).fma(xv, a3);
            }
            finish1x4(a0.reduceLanes(VectorOperators.ADD), a1.reduceLanes(VectorOperators.ADD),
                    a2.reduceLanes(VectorOperators.ADD), a3.reduceLanes(VectorOperators.ADD),
                    j, o, r, w, null, wOff);
        }

        /** {@link #dot4x1} on float16 weights, widened in registers. */
        private void dot4x1Half(short[] w, int wOff, int o, int r) {
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = FloatVector.zero(F);
            FloatVector a2 = FloatVector.zero(F);
            FloatVector a3 = FloatVector.zero(F);
            int a = xOff + r * in;
            int j = 0;
            for (int bound = F.loopBound(in); j < bound; j += LANES) {
                FloatVector xv = FloatVector.fromArray(F, x, a + j);
                IntVector h0 = (IntVector) ShortVector.fromArray(H, w, wOff + j).convertShape(S2I, I, 0);
                a0 = h0.lanewise(LSHL, 13).and(HALF_MASK).reinterpretAsFloats().mul(HALF_BIAS).fma(xv, a0);
                IntVector h1 = (IntVector) ShortVector.fromArray(H, w, wOff + in + j).convertShape(S2I, I, 0);
                a1 = h1.lanewise(LSHL, 13).and(HALF_MASK).reinterpretAsFloats().mul(HALF_BIAS).fma(xv, a1);
                IntVector h2 = (IntVector) ShortVector.fromArray(H, w, wOff + 2 * in + j).convertShape(S2I, I, 0);
                a2 = h2.lanewise(LSHL, 13).and(HALF_MASK).reinterpretAsFloats().mul(HALF_BIAS).fma(xv, a2);
                IntVector h3 = (IntVector) ShortVector.fromArray(H, w, wOff + 3 * in + j).convertShape(S2I, I, 0);
                a3 = h3.lanewise(LSHL, 13).and(HALF_MASK).reinterpretAsFloats().mul(HALF_BIAS).fma(xv, a3);
            }
            finish1x4(a0.reduceLanes(VectorOperators.ADD), a1.reduceLanes(VectorOperators.ADD),
                    a2.reduceLanes(VectorOperators.ADD), a3.reduceLanes(VectorOperators.ADD),
                    j, o, r, null, w, wOff);
        }

        /** Rows o..o+3 against token r: reduces, adds the scalar tail from column j, stores. */
        private void finish1x4(float s0, float s1, float s2, float s3, int j, int o, int r, float[] w32, short[] w16, int wOff) {
            int a = xOff + r * in;
            for (; j < in; j++) {
                float xj = x[a + j];
                s0 += (w32 != null ? w32[wOff + j] : Float.float16ToFloat(w16[wOff + j])) * xj;
                s1 += (w32 != null ? w32[wOff + in + j] : Float.float16ToFloat(w16[wOff + in + j])) * xj;
                s2 += (w32 != null ? w32[wOff + 2 * in + j] : Float.float16ToFloat(w16[wOff + 2 * in + j])) * xj;
                s3 += (w32 != null ? w32[wOff + 3 * in + j] : Float.float16ToFloat(w16[wOff + 3 * in + j])) * xj;
            }
            store(r, o, s0);
            store(r, o + 1, s1);
            store(r, o + 2, s2);
            store(r, o + 3, s3);
        }

        /** Four float16 rows from w16[off ..] widened into this thread's scratch [4, in], for the 4 x 4 blocks. */
        private float[] widenRows(short[] w16, int off) {
            float[] rows4 = ROWS4.get();
            if (rows4.length < 4 * in) {
                rows4 = new float[4 * in];
                ROWS4.set(rows4);
            }
            int n = 4 * in;
            int j = 0;
            for (int bound = F.loopBound(n); j < bound; j += LANES) {
                IntVector h = (IntVector) ShortVector.fromArray(H, w16, off + j).convertShape(S2I, I, 0);
                h.lanewise(LSHL, 13).and(HALF_MASK).reinterpretAsFloats().mul(HALF_BIAS).intoArray(rows4, j);
            }
            for (; j < n; j++) {
                rows4[j] = Float.float16ToFloat(w16[off + j]);
            }
            return rows4;
        }

        /** Rows o..o+3 against tokens r..r+3: 16 products per 8 loads, so L1 keeps up with the FMAs. */
        private void dot4x4(float[] w, int wOff, int o, int r) {
            FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F), a03 = FloatVector.zero(F);
            FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F), a13 = FloatVector.zero(F);
            FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a22 = FloatVector.zero(F), a23 = FloatVector.zero(F);
            FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F), a32 = FloatVector.zero(F), a33 = FloatVector.zero(F);
            int a = xOff + r * in;
            int j = 0;
            for (int bound = F.loopBound(in); j < bound; j += LANES) {
                FloatVector w0 = FloatVector.fromArray(F, w, wOff + j);
                FloatVector w1 = FloatVector.fromArray(F, w, wOff + in + j);
                FloatVector w2 = FloatVector.fromArray(F, w, wOff + 2 * in + j);
                FloatVector w3 = FloatVector.fromArray(F, w, wOff + 3 * in + j);
                FloatVector x0 = FloatVector.fromArray(F, x, a + j);
                a00 = w0.fma(x0, a00);
                a10 = w1.fma(x0, a10);
                a20 = w2.fma(x0, a20);
                a30 = w3.fma(x0, a30);
                FloatVector x1 = FloatVector.fromArray(F, x, a + in + j);
                a01 = w0.fma(x1, a01);
                a11 = w1.fma(x1, a11);
                a21 = w2.fma(x1, a21);
                a31 = w3.fma(x1, a31);
                FloatVector x2 = FloatVector.fromArray(F, x, a + 2 * in + j);
                a02 = w0.fma(x2, a02);
                a12 = w1.fma(x2, a12);
                a22 = w2.fma(x2, a22);
                a32 = w3.fma(x2, a32);
                FloatVector x3 = FloatVector.fromArray(F, x, a + 3 * in + j);
                a03 = w0.fma(x3, a03);
                a13 = w1.fma(x3, a13);
                a23 = w2.fma(x3, a23);
                a33 = w3.fma(x3, a33);
            }
            finish4x1(a00.reduceLanes(VectorOperators.ADD), a01.reduceLanes(VectorOperators.ADD),
                    a02.reduceLanes(VectorOperators.ADD), a03.reduceLanes(VectorOperators.ADD),
                    j, o, r, w, null, wOff);
            finish4x1(a10.reduceLanes(VectorOperators.ADD), a11.reduceLanes(VectorOperators.ADD),
                    a12.reduceLanes(VectorOperators.ADD), a13.reduceLanes(VectorOperators.ADD),
                    j, o + 1, r, w, null, wOff + in);
            finish4x1(a20.reduceLanes(VectorOperators.ADD), a21.reduceLanes(VectorOperators.ADD),
                    a22.reduceLanes(VectorOperators.ADD), a23.reduceLanes(VectorOperators.ADD),
                    j, o + 2, r, w, null, wOff + 2 * in);
            finish4x1(a30.reduceLanes(VectorOperators.ADD), a31.reduceLanes(VectorOperators.ADD),
                    a32.reduceLanes(VectorOperators.ADD), a33.reduceLanes(VectorOperators.ADD),
                    j, o + 3, r, w, null, wOff + 3 * in);
        }

        /** Row o against tokens r..r+3: reduces, adds the scalar tail from column j, stores. */
        private void finish4x1(float s0, float s1, float s2, float s3, int j, int o, int r, float[] w32, short[] w16, int wOff) {
            int a = xOff + r * in;
            for (; j < in; j++) {
                float wj = w32 != null ? w32[wOff + j] : Float.float16ToFloat(w16[wOff + j]);
                s0 += wj * x[a + j];
                s1 += wj * x[a + in + j];
                s2 += wj * x[a + 2 * in + j];
                s3 += wj * x[a + 3 * in + j];
            }
            store(r, o, s0);
            store(r + 1, o, s1);
            store(r + 2, o, s2);
            store(r + 3, o, s3);
        }

        private void store(int r, int o, float v) {
            int idx = yOff + r * out + o;
            y[idx] = accumulate ? y[idx] + v : v;
        }

        private float dot1(float[] w, int wOff, float[] x, int a) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            int j = 0;
            for (int bound = in - 2 * LANES; j <= bound; j += 2 * LANES) {
                acc0 = FloatVector.fromArray(F, w, wOff + j).fma(FloatVector.fromArray(F, x, a + j), acc0);
                acc1 = FloatVector.fromArray(F, w, wOff + j + LANES).fma(FloatVector.fromArray(F, x, a + j + LANES), acc1);
            }
            for (int bound = F.loopBound(in); j < bound; j += LANES) {
                acc0 = FloatVector.fromArray(F, w, wOff + j).fma(FloatVector.fromArray(F, x, a + j), acc0);
            }
            float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
            for (; j < in; j++) {
                sum += w[wOff + j] * x[a + j];
            }
            return sum;
        }

        private void dot4(float[] w, int wOff, int o, int r) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            FloatVector acc2 = FloatVector.zero(F);
            FloatVector acc3 = FloatVector.zero(F);
            int a = xOff + r * in;
            int j = 0;
            for (int bound = F.loopBound(in); j < bound; j += LANES) {
                FloatVector wv = FloatVector.fromArray(F, w, wOff + j);
                acc0 = wv.fma(FloatVector.fromArray(F, x, a + j), acc0);
                acc1 = wv.fma(FloatVector.fromArray(F, x, a + in + j), acc1);
                acc2 = wv.fma(FloatVector.fromArray(F, x, a + 2 * in + j), acc2);
                acc3 = wv.fma(FloatVector.fromArray(F, x, a + 3 * in + j), acc3);
            }
            finish4x1(acc0.reduceLanes(VectorOperators.ADD), acc1.reduceLanes(VectorOperators.ADD),
                    acc2.reduceLanes(VectorOperators.ADD), acc3.reduceLanes(VectorOperators.ADD),
                    j, o, r, w, null, wOff);
        }

        private float dot1Half(short[] w, int wOff, float[] x, int a) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            int j = 0;
            for (int bound = in - 2 * LANES; j <= bound; j += 2 * LANES) {
                IntVector b0 = (IntVector) ShortVector.fromArray(H, w, wOff + j).convertShape(S2I, I, 0);
                acc0 = b0.lanewise(LSHL, 13).and(HALF_MASK).reinterpretAsFloats().mul(HALF_BIAS)
                        .fma(FloatVector.fromArray(F, x, a + j), acc0);
                IntVector b1 = (IntVector) ShortVector.fromArray(H, w, wOff + j + LANES).convertShape(S2I, I, 0);
                acc1 = b1.lanewise(LSHL, 13).and(HALF_MASK).reinterpretAsFloats().mul(HALF_BIAS)
                        .fma(FloatVector.fromArray(F, x, a + j + LANES), acc1);
            }
            for (int bound = F.loopBound(in); j < bound; j += LANES) {
                IntVector b = (IntVector) ShortVector.fromArray(H, w, wOff + j).convertShape(S2I, I, 0);
                acc0 = b.lanewise(LSHL, 13).and(HALF_MASK).reinterpretAsFloats().mul(HALF_BIAS)
                        .fma(FloatVector.fromArray(F, x, a + j), acc0);
            }
            float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
            for (; j < in; j++) {
                sum += Float.float16ToFloat(w[wOff + j]) * x[a + j];
            }
            return sum;
        }

        private void dot4Half(short[] w, int wOff, int o, int r) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            FloatVector acc2 = FloatVector.zero(F);
            FloatVector acc3 = FloatVector.zero(F);
            int a = xOff + r * in;
            int j = 0;
            for (int bound = F.loopBound(in); j < bound; j += LANES) {
                IntVector b = (IntVector) ShortVector.fromArray(H, w, wOff + j).convertShape(S2I, I, 0);
                FloatVector wv = b.lanewise(LSHL, 13).and(HALF_MASK).reinterpretAsFloats().mul(HALF_BIAS);
                acc0 = wv.fma(FloatVector.fromArray(F, x, a + j), acc0);
                acc1 = wv.fma(FloatVector.fromArray(F, x, a + in + j), acc1);
                acc2 = wv.fma(FloatVector.fromArray(F, x, a + 2 * in + j), acc2);
                acc3 = wv.fma(FloatVector.fromArray(F, x, a + 3 * in + j), acc3);
            }
            finish4x1(acc0.reduceLanes(VectorOperators.ADD), acc1.reduceLanes(VectorOperators.ADD),
                    acc2.reduceLanes(VectorOperators.ADD), acc3.reduceLanes(VectorOperators.ADD),
                    j, o, r, null, w, wOff);
        }
    }
}
