package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The ternary accumulate on CPU cores with the Vector API (GEMV for t = 1, GEMM for t > 1), by
 * table lookup: no multiplies.
 *
 * <pre>
 *   out[r, o] (+)= (s_p * actFactor[p, r]) * sum_i T[o, i] * q[p, r, i]     o in part p
 * </pre>
 * W: one or more {@link TernaryMatrix} parts with the same in-dim, stacked along out (i/f/g or
 * gate|up run as one loop); q: [parts, rows, in] int8, each part its own quantized input;
 * actFactor: [parts, rows]; out: [rows, outTotal] float. Exact integer sums, scales once at the end:
 * bit-exact with {@link BitLinearReference}, accumulate flag included.
 *
 * <p>Idea: G = 3 ternary weights take 27 values, so their dot product with 3 activations is one
 * of 27 sums. Per token, each group of 3 activations gets a table of those 27 sums (one ShortVector
 * of L = 32 lanes); a weight group is stored as its 5-bit index into that table, and L rows that
 * share the group's activations look their sums up at once with {@code selectFrom} (vpermw): one
 * lookup and one add per L x 3 products, where multiplying decoded codes costs ~4 ops per L x 1.
 * With AVX2 (L = 16) groups are G = 2 weights (9 sums, 4-bit indices).
 *
 * <p>CPU layout (repacked once; rows of each part padded to whole tiles of L rows):
 * <pre>
 *   group g of a row = columns G*g .. G*g+G-1, index = sum_k d(T[row, G*g + k]) * 3^k, d(0, +1, -1) = 0, 1, 2
 *   codes: tiles of short[words, L]: lane j of word w of tile t holds, for row L*t + j, the indices of
 *          groups PER_WORD*w + m in bits IDX*m .. IDX*m + IDX-1 (G = 3: IDX 5, 3 a word, 9 weights in
 *          16 bits; G = 2: IDX 4, 4 a word); padding columns and rows have index 0 (weight 0).
 *          Tiles go in groups of TILES_PER_TASK, and the groups of a span share a region ordered
 *          [tile of the group][group][words][L]: tile k of one group is followed by tile k of the next
 *   tables: short[parts, tokens, words * PER_WORD, L], lane i of table g = the sum for index i (lanes >= 3^G are 0)
 * </pre>
 * Short lanes hold at most {@value #FLUSH_LIMIT} before they are widened to int.
 *
 * <p>Schedule: tokens run in passes of {@value #TOKENS_PER_PASS}; within a pass, spans of groups of
 * {@value #TILES_PER_TASK} row tiles run in parallel on {@link CpuPool}, one span a chunk (so the thread
 * that finishes first waits at most one span for the other), each group reusing its codes for every
 * token of the pass. A span's groups run in order, so its four code streams run on from one group into
 * the next. Two groups a span gave 15-21% more GB/s than groups laid out and handed out one by one, for
 * every 2.7B shape except down_proj, whose streams are already long (+6%)
 * ({@code bench/results/cpu-amd-epyc-2c/2026-11-28/span-layout/}). Where rows are short the spans are
 * longer, so that a stream runs on about as far, {@value #STREAM_WORDS} words (see {@link #spans}). Each
 * thread builds the tables it needs itself (a few microseconds a token), in its own caches, so a
 * pass is one dispatch. Four tiles a task means four
 * code streams a core: with cold weights (a decode step) one or two streams left the core waiting
 * on DRAM; on the 2-core AMD EPYC the GEMV went from ~35% to ~55% of the triad measured in
 * alternation with it ({@code PairedTriad}). Measured against the v1 kernel (multiply by codes
 * decoded with two shifts: 3-4x slower, multiplier-bound) and v0 (bit-plane masks) in
 * {@code DecodeVariantsBench}. Below 256-bit vectors the lookup has no table lanes to spare; there
 * every call falls back to {@link BitLinearReference}'s dot products. Not thread-safe (one call at a
 * time per instance). Test: {@code BitLinearVectorTest}.
 */
public final class BitLinearVector {
    static final VectorSpecies<Short> S = ShortVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, VectorShape.forBitSize(S.vectorBitSize()));
    static final int L = S.length();
    static final boolean LOOKUP = L >= 16;
    static final int G = L >= 32 ? 3 : 2;
    static final int ENTRIES = G == 3 ? 27 : 9;
    static final int IDX = G == 3 ? 5 : 4;
    static final int PER_WORD = 16 / IDX;
    static final int FLUSH_LIMIT = 32767;
    /** Words summed in short lanes before widening: PER_WORD lookups a word, each at most G x 128. */
    static final int FLUSH_WORDS = FLUSH_LIMIT / (PER_WORD * G * 128);
    static final int TOKENS_PER_PASS = 8;
    /** Row tiles a task runs together: four code streams a core keep the hardware prefetchers busy (see the class doc). */
    static final int TILES_PER_TASK = 4;
    /** The fewest groups of tiles a span: their code streams continue one another (see the class doc). */
    static final int SPAN = 2;
    /**
     * Words (of L lanes, 64 bytes with 512-bit vectors) a span's streams run on for: as many groups as fit in
     * this, at least {@value #SPAN}. 2.7B's rows of 2560 take 285 words a group, so two groups (this length);
     * 1.3B's rows of 2048 take 228, so two; 370M's rows of 1024 take 114, so five, which read 4-12 points of the
     * triad more than two ({@code bench/results/cpu-amd-epyc-2c/2026-11-30/short-rows/}; three a span at 2048
     * decoded 1.3B no faster).
     */
    static final int STREAM_WORDS = 570;
    private static final AtomicLong PASSES = new AtomicLong();
    private static final ShortVector[] DIGITS = digitVectors();
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private final TernaryMatrix[] parts;
    private final int in;
    private final int out;
    private final int words;          // words per tile row: ceil(groups / PER_WORD)
    private final int[] partStart;    // [parts + 1] first output row of each part
    private final int[] partTiles;    // [parts + 1] first tile of each part
    private final float[] partScale;  // [parts]
    private final int[] pairTile;     // [pairs] first tile of each pair (a pair never spans parts)
    private final int[] pairSize;     // [pairs] 1 to 4 tiles
    private final int[] pairBase;     // [pairs] where the pair's first tile's codes start
    private final int[] pairStride;   // [pairs] from one of its tiles' codes to the next's
    private final int[] spanStart;    // [spans + 1] first pair of each span; a span's pairs' code streams continue
    private final short[] codes;      // tiles of [words, L], placed by pairBase and pairStride
    private final CpuPool pool;
    private final TileTask tileTask = new TileTask();
    /** Spans [from, to) by spanStart, a span's pairs in order (their code streams continue). */
    private final CpuPool.RangeTask spanTask;

    public BitLinearVector(CpuPool pool, TernaryMatrix... parts) {
        if (parts.length == 0) {
            throw new MmfreeException("bitlinear: no weight parts");
        }
        this.pool = pool;
        this.parts = parts.clone();
        this.in = parts[0].in();
        this.words = words(in);
        this.partStart = new int[parts.length + 1];
        this.partTiles = new int[parts.length + 1];
        this.partScale = new float[parts.length];
        long rows = 0;
        long tiles = 0;
        long pairs = 0;
        for (int p = 0; p < parts.length; p++) {
            if (parts[p].in() != in) {
                throw new MmfreeException("bitlinear: part " + p + " in-dim " + parts[p].in() + " != part 0 in-dim " + in);
            }
            partStart[p] = (int) rows;
            partTiles[p] = (int) tiles;
            partScale[p] = parts[p].scale();
            int t = (parts[p].out() + L - 1) / L;
            rows += parts[p].out();
            tiles += t;
            pairs += (t + TILES_PER_TASK - 1) / TILES_PER_TASK;
        }
        if (tiles * words * L > Integer.MAX_VALUE || rows > Integer.MAX_VALUE) {
            throw new MmfreeException("bitlinear: " + rows + " rows x in " + in + " too large for one CPU code array");
        }
        this.out = (int) rows;
        partStart[parts.length] = out;
        partTiles[parts.length] = (int) tiles;
        this.pairTile = new int[(int) pairs];
        this.pairSize = new int[(int) pairs];
        int k = 0;
        for (int p = 0; p < parts.length; p++) {
            for (int t = partTiles[p]; t < partTiles[p + 1]; t += TILES_PER_TASK) {
                pairTile[k] = t;
                pairSize[k++] = Math.min(TILES_PER_TASK, partTiles[p + 1] - t);
            }
        }
        // the pairs of a span share a region as [slot][pair][words][L]: slot k of pair i + 1 follows
        // slot k of pair i, so a thread taking a span's pairs in a row reads four streams a span long
        int n = words * L;
        this.spanStart = spans(pairTile.length, words, pool.threads());
        this.pairBase = new int[pairTile.length];
        this.pairStride = new int[pairTile.length];
        long at = 0;
        for (int sp = 0; sp + 1 < spanStart.length; sp++) {
            int c = spanStart[sp];
            int span = spanStart[sp + 1] - c;
            for (int i = 0; i < span; i++) {
                pairBase[c + i] = (int) (at + (long) i * n);
                pairStride[c + i] = span * n;
            }
            at += (long) (span == 1 ? pairSize[c] : TILES_PER_TASK * span) * n;   // a partial pair in a span leaves a hole
        }
        if (at > Integer.MAX_VALUE) {
            throw new MmfreeException("bitlinear: " + rows + " rows x in " + in + " too large for one CPU code array");
        }
        int[] tileAt = new int[(int) tiles];
        for (int q = 0; q < pairTile.length; q++) {
            for (int slot = 0; slot < pairSize[q]; slot++) {
                tileAt[pairTile[q] + slot] = pairBase[q] + slot * pairStride[q];
            }
        }
        this.codes = LOOKUP ? new short[(int) at] : new short[0];
        for (int p = 0; LOOKUP && p < parts.length; p++) {
            repack(parts[p], codes, Arrays.copyOfRange(tileAt, partTiles[p], partTiles[p + 1]), words);
        }
        this.spanTask = (from, to) -> tileTask.run(spanStart[from], spanStart[to]);
    }

    public BitLinearVector(TernaryMatrix... parts) {
        this(CpuPool.shared(), parts);
    }

    /**
     * The first pair of each span, and the end: spans of as many pairs as {@value #STREAM_WORDS} words a stream
     * hold, at least {@value #SPAN}, as even as the pairs allow, and at least two a thread where there are enough
     * pairs (with one a thread, the first to finish has nothing left to take: 370M's o_proj lost 6-10 points of the
     * triad). 2.7B's and 1.3B's shapes keep spans of two; 370M's rows of 1024 get two (o_proj), five or six.
     */
    static int[] spans(int pairs, int words, int threads) {
        int length = Math.max(SPAN, STREAM_WORDS / words);
        int count = Math.min(pairs, Math.max(2 * threads, pairs / length));
        int[] start = new int[count + 1];
        for (int k = 0; k <= count; k++) {
            start[k] = (int) ((long) k * pairs / count);
        }
        return start;
    }

    private static int words(int in) {
        return ((in + G - 1) / G + PER_WORD - 1) / PER_WORD;
    }

    /** Reference layout to the lookup layout: each group of G weights becomes its base-3 index. */
    static void repack(TernaryMatrix w, short[] dst, int[] tileAt, int words) {
        for (int o = 0; o < w.out(); o++) {
            int lane = o % L;
            int base = tileAt[o / L] + lane;
            for (int g = 0; g * G < w.in(); g++) {
                int index = 0;
                for (int k = G - 1; k >= 0; k--) {
                    int c = g * G + k;
                    int t = c < w.in() ? w.get(o, c) : 0;
                    index = index * 3 + (t == 0 ? 0 : t > 0 ? 1 : 2);
                }
                dst[base + (g / PER_WORD) * L] |= (short) (index << (IDX * (g % PER_WORD)));
            }
        }
    }

    /** DIGITS[k] lane i = the value (0, +1, -1) of base-3 digit k of i, for i < ENTRIES; 0 beyond. */
    private static ShortVector[] digitVectors() {
        ShortVector[] d = new ShortVector[G];
        short[] lanes = new short[L];
        for (int k = 0; k < G; k++) {
            int p = k == 0 ? 1 : k == 1 ? 3 : 9;
            for (int i = 0; i < L; i++) {
                int digit = (i / p) % 3;
                lanes[i] = (short) (i >= ENTRIES || digit == 0 ? 0 : digit == 1 ? 1 : -1);
            }
            d[k] = ShortVector.fromArray(S, lanes, 0);
        }
        return d;
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

    /** Bytes of the CPU-layout codes (16 bits per PER_WORD x G weights, rows padded to tiles). */
    public long packedBytes() {
        long reference = 0;
        for (TernaryMatrix m : parts) {
            reference += m.packedBytes();
        }
        return LOOKUP ? 2L * codes.length : reference;
    }

    /** Bytes the CPU layout takes for one [out, in] weight on this machine. */
    public static long packedBytes(int out, int in) {
        return LOOKUP ? 2L * ((out + L - 1) / L) * words(in) * L : 4L * out * TernaryMatrix.wordsPerRow(in);
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
        int np = parts();
        if (rows < 1) {
            throw new MmfreeException("bitlinear: rows must be >= 1, got " + rows);
        }
        if (q.length - (long) qOff < (long) np * rows * in) {
            throw new MmfreeException("bitlinear: q has " + (q.length - qOff) + " values past offset < " + np + " parts x " + rows + " rows x in " + in);
        }
        if (actFactor.length - factorOff < np * rows) {
            throw new MmfreeException("bitlinear: actFactor has " + (actFactor.length - factorOff) + " values past offset < " + np + " parts x " + rows + " rows");
        }
        if (out.length - (long) outOff < (long) rows * this.out) {
            throw new MmfreeException("bitlinear: out has " + (out.length - outOff) + " values past offset < " + rows + " rows x out " + this.out);
        }
        if (!LOOKUP) {
            scalar(q, qOff, actFactor, factorOff, rows, out, outOff, accumulate);
            return;
        }
        for (int r0 = 0; r0 < rows; r0 += TOKENS_PER_PASS) {
            tileTask.set(PASSES.incrementAndGet(), q, qOff, Math.min(TOKENS_PER_PASS, rows - r0), r0, rows, actFactor, factorOff, out,
                    outOff, accumulate);
            pool.parallelForEach(spanStart.length - 1, spanTask);
        }
        tileTask.set(0, null, 0, 0, 0, 0, null, 0, null, 0, false);
    }

    /** The fallback without 256-bit vectors: the reference's dot products, same scale order. */
    private void scalar(byte[] q, int qOff, float[] actFactor, int factorOff, int rows, float[] out, int outOff, boolean accumulate) {
        for (int p = 0; p < parts.length; p++) {
            for (int r = 0; r < rows; r++) {
                float factor = partScale[p] * actFactor[factorOff + p * rows + r];
                for (int o = 0; o < parts[p].out(); o++) {
                    float v = BitLinearReference.dot(parts[p], o, q, qOff + (p * rows + r) * in) * factor;
                    int idx = outOff + r * this.out + partStart[p] + o;
                    out[idx] = accumulate ? out[idx] + v : v;
                }
            }
        }
    }

    /** A thread's tables (its own copy, in its own caches), which pass and part they hold, and its sums. */
    private static final class Scratch {
        short[] tables = new short[0];   // [parts, tokens, groups, L]
        long[] builtPass = new long[0];  // [parts] the pass whose tables a part's slot holds
        final int[] sums = new int[2 * TILES_PER_TASK * L];   // two tokens' (fourTilesTwoTokens)
    }

    /**
     * The tables of one token: table g lane i = sum over k of digit k of i (0, +1, -1) times
     * q[a + G*g + k]. Groups wholly inside the row first, without bounds tests and with the G
     * products summed as a tree: 2.0 us instead of 2.8 for in = 2560 (one core), a cost each
     * thread pays per token before its first lookup.
     */
    private void build(byte[] q, int a, short[] tables, int off) {
        int groups = words * PER_WORD;
        int whole = Math.min(groups, in / G);
        ShortVector d0 = DIGITS[0];
        ShortVector d1 = DIGITS[1];
        int g = 0;
        if (G == 3) {
            ShortVector d2 = DIGITS[2];
            for (; g < whole; g++) {
                int c = a + 3 * g;
                d0.mul(q[c]).add(d1.mul(q[c + 1])).add(d2.mul(q[c + 2])).intoArray(tables, off + g * L);
            }
        } else {
            for (; g < whole; g++) {
                int c = a + 2 * g;
                d0.mul(q[c]).add(d1.mul(q[c + 1])).intoArray(tables, off + g * L);
            }
        }
        for (; g < groups; g++) {
            ShortVector t = ShortVector.zero(S);
            for (int k = 0; k < G; k++) {
                int c = g * G + k;
                if (c < in) {
                    t = t.add(DIGITS[k].mul(q[a + c]));
                }
            }
            t.intoArray(tables, off + g * L);
        }
    }

    /** Groups of up to four row tiles [from, to) against every token of the pass. */
    private final class TileTask implements CpuPool.RangeTask {
        private long pass;
        private byte[] q;
        private int qOff;
        private int tr;
        private int r0;
        private int rows;
        private float[] actFactor;
        private int factorOff;
        private float[] out;
        private int outOff;
        private boolean accumulate;

        void set(long pass, byte[] q, int qOff, int tr, int r0, int rows, float[] actFactor, int factorOff, float[] out, int outOff,
                 boolean accumulate) {
            this.pass = pass;
            this.q = q;
            this.qOff = qOff;
            this.tr = tr;
            this.r0 = r0;
            this.rows = rows;
            this.actFactor = actFactor;
            this.factorOff = factorOff;
            this.out = out;
            this.outOff = outOff;
            this.accumulate = accumulate;
        }

        @Override
        public void run(int from, int to) {
            int tableLen = words * PER_WORD * L;
            Scratch scratch = SCRATCH.get();
            int[] s = scratch.sums;
            for (int pair = from; pair < to; pair++) {
                int tile = pairTile[pair];
                int p = part(tile);
                short[] tables = tablesFor(scratch, p, tableLen);
                int n = pairSize[pair];
                int at = pairBase[pair];
                int stride = pairStride[pair];
                int tok = 0;
                if (n == 4) {   // tokens two at a time: each word's codes and indices serve both (see fourTilesTwoTokens)
                    for (; tok + 1 < tr; tok += 2) {
                        BitLinearLookup.fourTilesTwoTokens(codes, at, stride, words, tables, (p * tr + tok) * tableLen, tableLen, s);
                        store(p, tile, n, tok, s, 0);
                        store(p, tile, n, tok + 1, s, TILES_PER_TASK * L);
                    }
                }
                for (; tok < tr; tok++) {
                    int tab = (p * tr + tok) * tableLen;
                    if (n == 4) {
                        BitLinearLookup.fourTiles(codes, at, stride, words, tables, tab, s);
                    } else if (n >= 2) {
                        BitLinearLookup.twoTiles(codes, at, at + stride, words, tables, tab, s);
                        if (n == 3) {
                            BitLinearLookup.oneTile(codes, at + 2 * stride, words, tables, tab, s, 2 * L);
                        }
                    } else {
                        BitLinearLookup.oneTile(codes, at, words, tables, tab, s, 0);
                    }
                    store(p, tile, n, tok, s, 0);
                }
            }
        }

        /** This thread's tables of part p for the pass, built on first use (each thread builds the parts it meets). */
        private short[] tablesFor(Scratch scratch, int p, int tableLen) {
            int np = parts.length;
            if (scratch.tables.length < np * TOKENS_PER_PASS * tableLen || scratch.builtPass.length < np) {
                scratch.tables = new short[Math.max(scratch.tables.length, np * TOKENS_PER_PASS * tableLen)];
                scratch.builtPass = new long[Math.max(scratch.builtPass.length, np)];
            }
            if (scratch.builtPass[p] != pass) {
                for (int tok = 0; tok < tr; tok++) {
                    build(q, qOff + (p * rows + r0 + tok) * in, scratch.tables, (p * tr + tok) * tableLen);
                }
                scratch.builtPass[p] = pass;
            }
            return scratch.tables;
        }

        private int part(int tile) {
            int p = 0;
            while (tile >= partTiles[p + 1]) {
                p++;
            }
            return p;
        }

        /** out[token, row] (+)= dot * (s_p * actFactor) for the valid rows of the tiles, their dots at s[sOff ..). */
        private void store(int p, int tile, int tilesHere, int tok, int[] s, int sOff) {
            int r = r0 + tok;
            float factor = partScale[p] * actFactor[factorOff + p * rows + r];
            int firstRow = partStart[p] + (tile - partTiles[p]) * L;
            int n = Math.min(tilesHere * L, partStart[p + 1] - firstRow);
            int base = outOff + r * BitLinearVector.this.out + firstRow;
            for (int j = 0; j < n; j++) {
                float v = s[sOff + j] * factor;
                out[base + j] = accumulate ? out[base + j] + v : v;
            }
        }
    }
}
