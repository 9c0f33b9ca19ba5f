package dev.mmfree.kernels.linear;

import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

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
 * {@code LinearBench}. Rows run in parallel on {@link CpuPool}; 4 tokens share each weight load,
 * {@value #ROW_TILE} tokens per pass over the weights.
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
    private static final float HALF_BIAS = 0x1p112f;

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

    /** Half bits h (as shorts, widened) to float: exact for finite halves. */
    static FloatVector halfToFloat(ShortVector h, int part) {
        IntVector bits = (IntVector) h.convertShape(VectorOperators.S2I, I, part);
        return bits.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats().mul(HALF_BIAS);
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
                for (int o = lo; o < hi; o++) {
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
            finish4(acc0, acc1, acc2, acc3, j, o, r, w, null, wOff);
        }

        private float dot1Half(short[] w, int wOff, float[] x, int a) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            int j = 0;
            for (int bound = in - 2 * LANES; j <= bound; j += 2 * LANES) {
                ShortVector h = ShortVector.fromArray(H, w, wOff + j);
                acc0 = halfToFloat(h, 0).fma(FloatVector.fromArray(F, x, a + j), acc0);
                h = ShortVector.fromArray(H, w, wOff + j + LANES);
                acc1 = halfToFloat(h, 0).fma(FloatVector.fromArray(F, x, a + j + LANES), acc1);
            }
            for (int bound = F.loopBound(in); j < bound; j += LANES) {
                acc0 = halfToFloat(ShortVector.fromArray(H, w, wOff + j), 0).fma(FloatVector.fromArray(F, x, a + j), acc0);
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
                FloatVector wv = halfToFloat(ShortVector.fromArray(H, w, wOff + j), 0);
                acc0 = wv.fma(FloatVector.fromArray(F, x, a + j), acc0);
                acc1 = wv.fma(FloatVector.fromArray(F, x, a + in + j), acc1);
                acc2 = wv.fma(FloatVector.fromArray(F, x, a + 2 * in + j), acc2);
                acc3 = wv.fma(FloatVector.fromArray(F, x, a + 3 * in + j), acc3);
            }
            finish4(acc0, acc1, acc2, acc3, j, o, r, null, w, wOff);
        }

        /** Reduces four accumulators, adds the scalar tail from column j, and stores rows r..r+3. */
        private void finish4(FloatVector acc0, FloatVector acc1, FloatVector acc2, FloatVector acc3, int j, int o, int r,
                             float[] w32row, short[] w16row, int wOff) {
            float s0 = acc0.reduceLanes(VectorOperators.ADD);
            float s1 = acc1.reduceLanes(VectorOperators.ADD);
            float s2 = acc2.reduceLanes(VectorOperators.ADD);
            float s3 = acc3.reduceLanes(VectorOperators.ADD);
            int a = xOff + r * in;
            for (; j < in; j++) {
                float wj = w32row != null ? w32row[wOff + j] : Float.float16ToFloat(w16row[wOff + j]);
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
    }
}
