package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The ternary accumulate on CPU cores with the Vector API (GEMV for t = 1, GEMM for t > 1).
 *
 * <pre>
 *   out[r, o] (+)= (s_p * actFactor[p, r]) * sum_i T[o, i] * q[p, r, i]     o in part p
 * </pre>
 * W: one or more {@link TernaryMatrix} parts with the same in-dim, stacked along out (so i/f/g or
 * gate|up run as one loop); q: [parts, rows, in] int8, each part its own quantized input;
 * actFactor: [parts, rows]; out: [rows, outTotal] float. Exact integer sums, scales once at the end:
 * bit-exact with {@link BitLinearReference}, accumulate flag included.
 *
 * <p>CPU layout (repacked once from the reference layout). L = lanes of the preferred ShortVector
 * (32 with AVX-512, 16 with AVX2); a block is 8L columns held in L shorts:
 * <pre>
 *   codes: short[out * blocks * L], blocks = ceil(in / 8L), padded columns are code 00
 *   short j of block b of row o, bits 2k+1..2k = code of column 8L*b + L*k + j
 *   decode k: (c << (14 - 2k)) >> 14 (arithmetic) = 0, +1, -1 for codes 00, 01, 11
 * </pre>
 * One ShortVector load thus gives 8 sub-vectors of codes, each lined up with L contiguous
 * activations; the product with the activation (int8 widened to short once per call) is one
 * multiply, summed in short lanes and widened to int every {@value #FLUSH_BLOCKS} blocks
 * (31 blocks x 8 products x 128 < 2^15). Measured against a bit-plane variant (masked add/sub from
 * {@code VectorMask.fromLong}), which ran at half the speed on AVX-512 (see bench/results).
 *
 * <p>Rows run in parallel on {@link CpuPool}; for t > 1 each decoded block serves 4 tokens at a time,
 * in tiles of {@value #ROW_TILE} tokens. Not thread-safe (one call at a time per instance); the
 * activation scratch is per calling thread, grown to the largest tile seen.
 * Test: {@code BitLinearVectorTest}; bench: {@code BitLinearBench}.
 */
public final class BitLinearVector {
    static final VectorSpecies<Short> S = ShortVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
    static final int L = S.length();
    static final int BLOCK = 8 * L;
    static final int FLUSH_BLOCKS = 31;
    static final int ROW_TILE = 64;
    private static final int ROW_GRAIN = 16;
    private static final ThreadLocal<short[][]> ACT_SCRATCH = ThreadLocal.withInitial(() -> new short[1][0]);

    private final int in;
    private final int out;
    private final int blocks;
    private final int[] partStart;   // [parts + 1] first output row of each part
    private final float[] partScale; // [parts] s of each part
    private final short[] codes;     // [out, blocks * L] CPU layout above
    private final CpuPool pool;
    private final Call call = new Call();

    public BitLinearVector(CpuPool pool, TernaryMatrix... parts) {
        if (parts.length == 0) {
            throw new MmfreeException("bitlinear: no weight parts");
        }
        this.pool = pool;
        this.in = parts[0].in();
        this.blocks = (in + BLOCK - 1) / BLOCK;
        this.partStart = new int[parts.length + 1];
        this.partScale = new float[parts.length];
        long total = 0;
        for (int p = 0; p < parts.length; p++) {
            if (parts[p].in() != in) {
                throw new MmfreeException("bitlinear: part " + p + " in-dim " + parts[p].in() + " != part 0 in-dim " + in);
            }
            partStart[p] = (int) total;
            partScale[p] = parts[p].scale();
            total += parts[p].out();
        }
        if (total * blocks * L > Integer.MAX_VALUE) {
            throw new MmfreeException("bitlinear: [" + total + ", " + in + "] too large for one CPU code array");
        }
        this.out = (int) total;
        partStart[parts.length] = out;
        this.codes = new short[out * blocks * L];
        for (int p = 0; p < parts.length; p++) {
            repack(parts[p], codes, partStart[p] * blocks * L, blocks);
        }
    }

    public BitLinearVector(TernaryMatrix... parts) {
        this(CpuPool.shared(), parts);
    }

    /** Reference layout to CPU layout, one output row at a time. */
    static void repack(TernaryMatrix w, short[] dst, int dstOff, int blocks) {
        int[] src = w.codes();
        int wpr = w.wordsPerRow();
        for (int o = 0; o < w.out(); o++) {
            int rowBase = dstOff + o * blocks * L;
            for (int c = 0; c < w.in(); c++) {
                int code = (src[o * wpr + c / TernaryMatrix.WEIGHTS_PER_WORD] >>> (2 * (c % TernaryMatrix.WEIGHTS_PER_WORD))) & 0b11;
                int b = c / BLOCK;
                int k = (c % BLOCK) / L;
                int j = c % L;
                dst[rowBase + b * L + j] |= (short) (code << (2 * k));
            }
        }
    }

    public int in() {
        return in;
    }

    /** Total output rows over all parts. */
    public int out() {
        return out;
    }

    public int parts() {
        return partScale.length;
    }

    /** Bytes of the CPU-layout codes (2 bits a weight plus block padding). */
    public long packedBytes() {
        return 2L * codes.length;
    }

    /** Bytes the CPU layout takes for a [out, in] weight on this machine. */
    public static long packedBytes(int out, int in) {
        return 2L * out * ((in + BLOCK - 1) / BLOCK) * L;
    }

    /**
     * out[r, :] (+)= the stacked BitLinear of q[p, r, :] for r < rows.
     *
     * @param q         [parts, rows, in] int8
     * @param actFactor [parts, rows] each row's a / 127
     * @param out       [rows, out()] float
     */
    public void forward(byte[] q, float[] actFactor, int rows, float[] out, boolean accumulate) {
        forward(q, 0, actFactor, 0, rows, out, 0, accumulate);
    }

    /** {@link #forward(byte[], float[], int, float[], boolean)} on arrays starting at the given offsets. */
    public void forward(byte[] q, int qOff, float[] actFactor, int factorOff, int rows, float[] out, int outOff, boolean accumulate) {
        int parts = parts();
        if (rows < 1) {
            throw new MmfreeException("bitlinear: rows must be >= 1, got " + rows);
        }
        if (q.length - (long) qOff < (long) parts * rows * in) {
            throw new MmfreeException("bitlinear: q has " + (q.length - qOff) + " values past offset < " + parts + " parts x " + rows + " rows x in " + in);
        }
        if (actFactor.length - factorOff < parts * rows) {
            throw new MmfreeException("bitlinear: actFactor has " + (actFactor.length - factorOff) + " values past offset < " + parts + " parts x " + rows + " rows");
        }
        if (out.length - (long) outOff < (long) rows * this.out) {
            throw new MmfreeException("bitlinear: out has " + (out.length - outOff) + " values past offset < " + rows + " rows x out " + this.out);
        }
        int stride = blocks * BLOCK;
        for (int r0 = 0; r0 < rows; r0 += ROW_TILE) {
            int tr = Math.min(ROW_TILE, rows - r0);
            short[] act = actScratch(parts * tr * stride); // [parts, tr, stride] int8 values as short
            for (int p = 0; p < parts; p++) {
                for (int r = 0; r < tr; r++) {
                    widen(q, qOff + (p * rows + r0 + r) * in, act, (p * tr + r) * stride, in, stride);
                }
            }
            call.set(act, tr, r0, rows, actFactor, factorOff, out, outOff + r0 * this.out, accumulate);
            pool.parallelFor(this.out, ROW_GRAIN, call);
        }
        call.set(null, 0, 0, 0, null, 0, null, 0, false);
    }

    private static short[] actScratch(int size) {
        short[][] holder = ACT_SCRATCH.get();
        if (holder[0].length < size) {
            holder[0] = new short[size];
        }
        return holder[0];
    }

    /** act[dst .. dst+stride) = q[src .. src+n) widened, then zeros. */
    private static void widen(byte[] q, int src, short[] act, int dst, int n, int stride) {
        int j = 0;
        for (int bound = B.loopBound(n); j < bound; j += L) {
            ((ShortVector) ByteVector.fromArray(B, q, src + j).convertShape(VectorOperators.B2S, S, 0)).intoArray(act, dst + j);
        }
        for (; j < n; j++) {
            act[dst + j] = q[src + j];
        }
        for (; j < stride; j++) {
            act[dst + j] = 0;
        }
    }

    /** Code sub-vector k of a block: (c << (14 - 2k)) >> 14, i.e. 0, +1, -1. */
    private static ShortVector decode(ShortVector c, int k) {
        return c.lanewise(VectorOperators.LSHL, 14 - 2 * k).lanewise(VectorOperators.ASHR, 14);
    }

    /** Sum of the short lanes, widened to int first. */
    private static int widenSum(ShortVector acc) {
        return ((IntVector) acc.convertShape(VectorOperators.S2I, I, 0)).reduceLanes(VectorOperators.ADD)
                + ((IntVector) acc.convertShape(VectorOperators.S2I, I, 1)).reduceLanes(VectorOperators.ADD);
    }

    /** One token against one row: T[o, :] . act[a .. a + blocks * BLOCK). */
    static int dot1(short[] codes, int w, int blocks, short[] act, int a) {
        int sum = 0;
        for (int b0 = 0; b0 < blocks; b0 += FLUSH_BLOCKS) {
            int b1 = Math.min(blocks, b0 + FLUSH_BLOCKS);
            ShortVector acc0 = ShortVector.zero(S);
            ShortVector acc1 = ShortVector.zero(S);
            for (int b = b0; b < b1; b++) {
                ShortVector c = ShortVector.fromArray(S, codes, w + b * L);
                int col = a + b * BLOCK;
                acc0 = acc0.add(decode(c, 0).mul(ShortVector.fromArray(S, act, col)));
                acc1 = acc1.add(decode(c, 1).mul(ShortVector.fromArray(S, act, col + L)));
                acc0 = acc0.add(decode(c, 2).mul(ShortVector.fromArray(S, act, col + 2 * L)));
                acc1 = acc1.add(decode(c, 3).mul(ShortVector.fromArray(S, act, col + 3 * L)));
                acc0 = acc0.add(decode(c, 4).mul(ShortVector.fromArray(S, act, col + 4 * L)));
                acc1 = acc1.add(decode(c, 5).mul(ShortVector.fromArray(S, act, col + 5 * L)));
                acc0 = acc0.add(decode(c, 6).mul(ShortVector.fromArray(S, act, col + 6 * L)));
                acc1 = acc1.add(c.lanewise(VectorOperators.ASHR, 14).mul(ShortVector.fromArray(S, act, col + 7 * L)));
            }
            sum += widenSum(acc0.add(acc1));
        }
        return sum;
    }

    /** The loop body: output rows [from, to) for the current token tile. */
    private final class Call implements CpuPool.RangeTask {
        private short[] act;
        private int tileRows;
        private int rowBase;
        private int rows;
        private float[] actFactor;
        private int factorOff;
        private float[] out;
        private int outOff;
        private boolean accumulate;

        void set(short[] act, int tileRows, int rowBase, int rows, float[] actFactor, int factorOff, float[] out, int outOff,
                 boolean accumulate) {
            this.act = act;
            this.tileRows = tileRows;
            this.rowBase = rowBase;
            this.rows = rows;
            this.actFactor = actFactor;
            this.factorOff = factorOff;
            this.out = out;
            this.outOff = outOff;
            this.accumulate = accumulate;
        }

        @Override
        public void run(int from, int to) {
            int stride = blocks * BLOCK;
            for (int p = 0; p < partScale.length; p++) {
                int lo = Math.max(from, partStart[p]);
                int hi = Math.min(to, partStart[p + 1]);
                for (int o = lo; o < hi; o++) {
                    int w = o * blocks * L;
                    int r = 0;
                    for (; r + 4 <= tileRows; r += 4) {
                        dot4(w, (p * tileRows + r) * stride, stride, p, o, r);
                    }
                    for (; r < tileRows; r++) {
                        store(p, o, r, dot1(codes, w, blocks, act, (p * tileRows + r) * stride));
                    }
                }
            }
        }

        /** Four tokens against row o: each decoded block serves all four. */
        private void dot4(int w, int a, int stride, int p, int o, int tileRow) {
            short[] act = this.act;
            int s0 = 0;
            int s1 = 0;
            int s2 = 0;
            int s3 = 0;
            for (int b0 = 0; b0 < blocks; b0 += FLUSH_BLOCKS) {
                int b1 = Math.min(blocks, b0 + FLUSH_BLOCKS);
                ShortVector acc0 = ShortVector.zero(S);
                ShortVector acc1 = ShortVector.zero(S);
                ShortVector acc2 = ShortVector.zero(S);
                ShortVector acc3 = ShortVector.zero(S);
                for (int b = b0; b < b1; b++) {
                    ShortVector c = ShortVector.fromArray(S, codes, w + b * L);
                    int col = a + b * BLOCK;
                    for (int k = 0; k < 8; k++) {
                        ShortVector t = decode(c, k);
                        int off = col + k * L;
                        acc0 = acc0.add(t.mul(ShortVector.fromArray(S, act, off)));
                        acc1 = acc1.add(t.mul(ShortVector.fromArray(S, act, off + stride)));
                        acc2 = acc2.add(t.mul(ShortVector.fromArray(S, act, off + 2 * stride)));
                        acc3 = acc3.add(t.mul(ShortVector.fromArray(S, act, off + 3 * stride)));
                    }
                }
                s0 += widenSum(acc0);
                s1 += widenSum(acc1);
                s2 += widenSum(acc2);
                s3 += widenSum(acc3);
            }
            store(p, o, tileRow, s0);
            store(p, o, tileRow + 1, s1);
            store(p, o, tileRow + 2, s2);
            store(p, o, tileRow + 3, s3);
        }

        private void store(int p, int o, int tileRow, int dot) {
            float factor = partScale[p] * actFactor[factorOff + p * rows + rowBase + tileRow];
            float v = dot * factor;
            int idx = outOff + tileRow * BitLinearVector.this.out + o;
            out[idx] = accumulate ? out[idx] + v : v;
        }
    }
}
