package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.ternary.TernaryMatrix;

/**
 * The device layout of ternary weights that the OpenCL kernels read (also described in {@code opencl/common.cl}).
 *
 * <pre>
 *   P projections [out, in] (same shape) stacked; each padded to outPad = roundUp(out, 64) rows
 *   rowsPad = P * outPad; stacked row R = p * outPad + r
 *   chunk c = columns [64c, 64c + 64), chunks = ceil(in / 64)
 *   words: int[chunks * rowsPad * 4]; the uint4 (c, R) is words[4 * (c * rowsPad + R) .. +3]
 *   word m of (c, R): column 64c + 16m + 4s + j  ->  bits 8j + 2s + 1 .. 8j + 2s, holding u = T + 1 in {0, 1, 2}
 *   padding rows and columns hold u = 1 (T = 0)
 * </pre>
 * Why: a GPU work-item takes one row, and the 32 lanes of a warp take 32 consecutive rows, so each
 * load of the warp is 512 contiguous bytes; {@code (word >> 2s) & 0x03030303} yields four u's in
 * four bytes, ready for a byte dot product with four int8 activations. The same 2 bits a weight as
 * {@link TernaryMatrix}: word m of chunk c is the reference's word 4c + m with its 16 codes moved
 * and re-encoded.
 *
 * <p>The blocked variant ({@code blockRows} B of 16, 32 or 64) keeps every uint4 but orders them block by
 * block: (c, R) is the uint4 {@code ((R / B) * chunks + c) * B + R % B}, so that a work-group taking B
 * rows reads one contiguous range instead of one 16 B * B piece a chunk. Every ternary kernel reads both
 * ({@code W_AT} in {@code opencl/common.cl}, WBLOCK = B); B = 0 is the chunk-major layout above.
 */
public final class TernaryDeviceLayout {
    public static final int ROW_TILE = 64;
    public static final int CHUNK = 64;
    /** Env override of the layout a model uploads its ternary weights in: 0 (chunk-major), 16, 32 or 64. */
    public static final String BLOCK_ENV = "MMFREE_OPENCL_WEIGHT_BLOCK";
    /**
     * The layout a model uploads in, unless {@value #BLOCK_ENV} says otherwise: chunk-major. On the H200 the plain
     * GEMV reads wide outputs 2-13% faster blocked by 64 rows, but the one-launch layer, which takes its rows
     * block by block on one work-group a compute unit, decoded 2.7B 4% slower (bench/results/nvidia-h200/2026-11-29/blocked-layout).
     */
    public static final int DEFAULT_BLOCK_ROWS = 0;
    /**
     * The widest input the kernels take: their masked dot products ({@code dacc_t} in {@code opencl/common.cl})
     * keep a work-item's sums exact in int lanes up to 2^15 words of 16 inputs.
     */
    public static final int MAX_IN = 1 << 19;
    /** A word whose 16 weights are all 0 (u = 1). */
    static final int ZERO_WORD = 0x55555555;

    private TernaryDeviceLayout() {
    }

    public static int chunks(int in) {
        return (in + CHUNK - 1) / CHUNK;
    }

    public static int outPad(int out) {
        return (out + ROW_TILE - 1) / ROW_TILE * ROW_TILE;
    }

    /** The stacked matrices in the device layout. */
    public static int[] pack(TernaryMatrix... stack) {
        return pack(0, stack);
    }

    /** The layout a model uploads in: {@value #BLOCK_ENV} if set, else {@link #DEFAULT_BLOCK_ROWS}. */
    public static int blockRowsFromEnv() {
        String v = System.getenv(BLOCK_ENV);
        if (v == null || v.isBlank()) {
            return DEFAULT_BLOCK_ROWS;
        }
        try {
            return checkBlockRows(Integer.parseInt(v.trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(BLOCK_ENV + " must be 0, 16, 32 or 64, got '" + v + "'", e);
        }
    }

    /** Rejects block sizes other than 0 (chunk-major), 16, 32 and 64 rows. */
    public static int checkBlockRows(int blockRows) {
        if (blockRows != 0 && blockRows != 16 && blockRows != 32 && blockRows != 64) {
            throw new IllegalArgumentException("ternary layout: blockRows must be 0, 16, 32 or 64, got " + blockRows);
        }
        return blockRows;
    }

    /** The uint4 index of (chunk c, stacked row R) in the layout with the given blockRows (0: chunk-major). */
    public static long index(int blockRows, int chunks, int rowsPad, int c, int row) {
        if (blockRows == 0) {
            return (long) c * rowsPad + row;
        }
        return ((long) (row / blockRows) * chunks + c) * blockRows + row % blockRows;
    }

    /** The stacked matrices in the device layout, blocked by blockRows rows (0: chunk-major). */
    public static int[] pack(int blockRows, TernaryMatrix... stack) {
        checkBlockRows(blockRows);
        int out = stack[0].out();
        int in = stack[0].in();
        for (TernaryMatrix m : stack) {
            if (m.out() != out || m.in() != in) {
                throw new IllegalArgumentException("stacked projections differ in shape: " + m + " vs [" + out + ", " + in + "]");
            }
        }
        if (in > MAX_IN) {
            throw new IllegalArgumentException("ternary layout: in = " + in + " is wider than the kernels take (" + MAX_IN + ")");
        }
        int chunks = chunks(in);
        int outPad = outPad(out);
        int rowsPad = stack.length * outPad;
        if ((long) chunks * rowsPad * 4 > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("ternary layout: " + stack.length + " x [" + out + ", " + in
                    + "] does not fit one int array");
        }
        int wpr = TernaryMatrix.wordsPerRow(in);
        int[] words = new int[chunks * rowsPad * 4];
        java.util.Arrays.fill(words, ZERO_WORD);
        for (int p = 0; p < stack.length; p++) {
            int[] codes = stack[p].codes();
            for (int r = 0; r < out; r++) {
                int rowStacked = p * outPad + r;
                for (int k = 0; k < wpr; k++) {
                    int c = k / 4;
                    int m = k % 4;
                    words[(int) (4 * index(blockRows, chunks, rowsPad, c, rowStacked)) + m] = moveWord(codes[r * wpr + k]);
                }
            }
        }
        return words;
    }

    /** One reference word (code of column k at bits 2k) as a device word (u of column 4s + j at bits 8j + 2s). */
    static int moveWord(int word) {
        return SPREAD[word & 0xff] | SPREAD[(word >>> 8) & 0xff] << 2 | SPREAD[(word >>> 16) & 0xff] << 4
                | SPREAD[(word >>> 24) & 0xff] << 6;
    }

    /** Byte s of a reference word (codes of columns 4s .. 4s+3) as u's at bits 8j, j = 0..3 (shifted by 2s after). */
    private static final int[] SPREAD = new int[256];

    static {
        for (int b = 0; b < 256; b++) {
            int v = 0;
            for (int j = 0; j < 4; j++) {
                v |= (TernaryMatrix.decode(b >>> (2 * j)) + 1) << (8 * j);
            }
            SPREAD[b] = v;
        }
    }

    /** T[r, col] of projection p read back from the device layout. */
    public static int get(int[] words, int projections, int out, int in, int p, int r, int col) {
        return get(0, words, projections, out, in, p, r, col);
    }

    /** T[r, col] of projection p read back from the layout blocked by blockRows rows (0: chunk-major). */
    public static int get(int blockRows, int[] words, int projections, int out, int in, int p, int r, int col) {
        int rowsPad = projections * outPad(out);
        int c = col / CHUNK;
        int m = (col % CHUNK) / 16;
        int k = col % 16;
        int word = words[(int) (4 * index(blockRows, chunks(in), rowsPad, c, p * outPad(out) + r)) + m];
        return ((word >>> (8 * (k & 3) + 2 * (k >> 2))) & 3) - 1;
    }
}
