package dev.mmfree.kernels.attention;

import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Causal prefill attention of {@link AttentionVector}, tiled: one item is (sequence, head, block of
 * up to {@value #BQ} queries at positions first .. last); shapes as there.
 *
 * <pre>
 *   m_i = -inf, l_i = 0, acc_i = 0                                        per query i of the block
 *   for each key block P = [p0, p0 + BK), p0 <= last:
 *     kt = K[P]^T                                                         [hd, BK] scratch
 *     s = q_i kt / sqrt(hd), keys past position first + i masked          BK scores, FMAs over hd
 *     m' = max(m_i, max s);  c = exp(m_i - m');  p = exp(s - m')
 *     l_i = c l_i + sum p;  acc_i = c acc_i + p V[P];  m_i = m'
 *   out_i = acc_i / l_i
 * </pre>
 * The transposed key block ({@code hd x BK} floats) and the value block stay in L1 while every
 * query of the block uses them; scores are BK / lanes vector FMAs per hd column, no reductions.
 */
final class AttentionTiles implements CpuPool.RangeTask {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int LANES = F.length();
    /** Queries per item: the transpose of a key block is paid once for this many queries. */
    static final int BQ = 32;
    /** Keys per block: four vectors of scores a query. */
    static final int BK = 4 * LANES;
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private final int heads;
    private final int group;
    private final int hd;
    private final int full;                  // hd rounded down to whole vectors
    private final int hdPad;                 // hd rounded up to whole vectors
    private final float scale;
    private final VectorMask<Float> tail;    // lanes of the last partial vector of a row

    private float[] q;
    private int batch;
    private int t;
    private float[][] keys;
    private float[][] values;
    private int kvOff;
    private int capacity;
    private int pos0;
    private float[] out;

    AttentionTiles(int heads, int kvHeads, int hd) {
        this.heads = heads;
        this.group = heads / kvHeads;
        this.hd = hd;
        this.full = F.loopBound(hd);
        this.hdPad = (hd + LANES - 1) / LANES * LANES;
        this.scale = (float) (1.0 / Math.sqrt(hd));
        this.tail = F.indexInRange(full, hd);
    }

    void set(float[] q, int batch, int t, float[][] keys, float[][] values, int kvOff, int capacity, int pos0, float[] out) {
        this.q = q;
        this.batch = batch;
        this.t = t;
        this.keys = keys;
        this.values = values;
        this.kvOff = kvOff;
        this.capacity = capacity;
        this.pos0 = pos0;
        this.out = out;
    }

    private int blocks() {
        return (t + BQ - 1) / BQ;
    }

    int items() {
        return batch * heads * blocks();
    }

    /** Items in order of decreasing work (later query blocks see more keys), so the last chunks taken are the short ones. */
    @Override
    public void run(int from, int to) {
        Scratch sc = SCRATCH.get();
        sc.fit(hd, hdPad);
        int perBlock = batch * heads;
        for (int item = from; item < to; item++) {
            int block = blocks() - 1 - item / perBlock;
            int sh = item % perBlock;
            int s = sh / heads;
            int h = sh % heads;
            int k0 = block * BQ;
            tile(sc, keys[s], values[s], kvOff + (h / group) * capacity * hd, s * t + k0, h, pos0 + k0, Math.min(BQ, t - k0));
        }
    }

    /** Queries of rows row0 .. row0 + nq - 1, head h, at positions first .. first + nq - 1. */
    private void tile(Scratch sc, float[] k, float[] v, int base, int row0, int h, int first, int nq) {
        for (int i = 0; i < nq; i++) {
            sc.max[i] = Float.NEGATIVE_INFINITY;
            sc.sum[i] = 0f;
        }
        Arrays.fill(sc.acc, 0, nq * hdPad, 0f);
        int last = first + nq - 1;
        for (int p0 = 0; p0 <= last; p0 += BK) {
            int nk = Math.min(BK, last + 1 - p0);
            transpose(k, base + p0 * hd, nk, sc.kt);
            for (int i = Math.max(0, p0 - first); i < nq; i++) {
                int visible = Math.min(nk, first + i - p0 + 1);
                update(sc, i, (row0 + i) * heads * hd + h * hd, v, base + p0 * hd, visible);
            }
        }
        for (int i = 0; i < nq; i++) {
            float inv = 1f / sc.sum[i];
            int o = (row0 + i) * heads * hd + h * hd;
            int a = i * hdPad;
            int j = 0;
            for (; j < full; j += LANES) {
                FloatVector.fromArray(F, sc.acc, a + j).mul(inv).intoArray(out, o + j);
            }
            if (j < hd) {
                FloatVector.fromArray(F, sc.acc, a + j).mul(inv).intoArray(out, o + j, tail);
            }
        }
    }

    /** kt[c * BK + j] = K row j (from off, stride hd) column c, for j < nk. */
    private void transpose(float[] k, int off, int nk, float[] kt) {
        for (int j = 0; j < nk; j++) {
            int row = off + j * hd;
            for (int c = 0; c < hd; c++) {
                kt[c * BK + j] = k[row + c];
            }
        }
    }

    /** Query i (q from qOff) against the first `visible` keys of the block: online softmax step, then acc_i += p V. */
    private void update(Scratch sc, int i, int qOff, float[] v, int vOff, int visible) {
        float[] kt = sc.kt;
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = FloatVector.zero(F);
        FloatVector s2 = FloatVector.zero(F);
        FloatVector s3 = FloatVector.zero(F);
        for (int c = 0; c < hd; c++) {
            FloatVector qc = FloatVector.broadcast(F, q[qOff + c]);
            int o = c * BK;
            s0 = FloatVector.fromArray(F, kt, o).fma(qc, s0);
            s1 = FloatVector.fromArray(F, kt, o + LANES).fma(qc, s1);
            s2 = FloatVector.fromArray(F, kt, o + 2 * LANES).fma(qc, s2);
            s3 = FloatVector.fromArray(F, kt, o + 3 * LANES).fma(qc, s3);
        }
        s0 = s0.mul(scale);
        s1 = s1.mul(scale);
        s2 = s2.mul(scale);
        s3 = s3.mul(scale);
        if (visible < BK) {
            s0 = s0.blend(Float.NEGATIVE_INFINITY, F.indexInRange(0, visible).not());
            s1 = s1.blend(Float.NEGATIVE_INFINITY, F.indexInRange(LANES, visible).not());
            s2 = s2.blend(Float.NEGATIVE_INFINITY, F.indexInRange(2 * LANES, visible).not());
            s3 = s3.blend(Float.NEGATIVE_INFINITY, F.indexInRange(3 * LANES, visible).not());
        }
        float old = sc.max[i];
        float max = Math.max(old, s0.max(s1).max(s2.max(s3)).reduceLanes(VectorOperators.MAX));
        FloatVector p0 = s0.sub(max).lanewise(VectorOperators.EXP);
        FloatVector p1 = s1.sub(max).lanewise(VectorOperators.EXP);
        FloatVector p2 = s2.sub(max).lanewise(VectorOperators.EXP);
        FloatVector p3 = s3.sub(max).lanewise(VectorOperators.EXP);
        float c = (float) Math.exp(old - max);
        sc.sum[i] = sc.sum[i] * c + p0.add(p1).add(p2.add(p3)).reduceLanes(VectorOperators.ADD);
        sc.max[i] = max;
        float[] p = sc.p;
        p0.intoArray(p, 0);
        p1.intoArray(p, LANES);
        p2.intoArray(p, 2 * LANES);
        p3.intoArray(p, 3 * LANES);
        accumulate(sc.acc, i * hdPad, c, p, v, vOff, visible);
    }

    /** acc[a ..] = c * acc[a ..] + sum_{j < n} p[j] V[j] (V rows from vOff, stride hd), four vectors of columns at a time. */
    private void accumulate(float[] acc, int a, float c, float[] p, float[] v, int vOff, int n) {
        int col = 0;
        for (; col + 4 * LANES <= full; col += 4 * LANES) {
            FloatVector a0 = FloatVector.fromArray(F, acc, a + col).mul(c);
            FloatVector a1 = FloatVector.fromArray(F, acc, a + col + LANES).mul(c);
            FloatVector a2 = FloatVector.fromArray(F, acc, a + col + 2 * LANES).mul(c);
            FloatVector a3 = FloatVector.fromArray(F, acc, a + col + 3 * LANES).mul(c);
            for (int j = 0; j < n; j++) {
                FloatVector pj = FloatVector.broadcast(F, p[j]);
                int row = vOff + j * hd + col;
                a0 = FloatVector.fromArray(F, v, row).fma(pj, a0);
                a1 = FloatVector.fromArray(F, v, row + LANES).fma(pj, a1);
                a2 = FloatVector.fromArray(F, v, row + 2 * LANES).fma(pj, a2);
                a3 = FloatVector.fromArray(F, v, row + 3 * LANES).fma(pj, a3);
            }
            a0.intoArray(acc, a + col);
            a1.intoArray(acc, a + col + LANES);
            a2.intoArray(acc, a + col + 2 * LANES);
            a3.intoArray(acc, a + col + 3 * LANES);
        }
        for (; col < full; col += LANES) {
            FloatVector a0 = FloatVector.fromArray(F, acc, a + col).mul(c);
            for (int j = 0; j < n; j++) {
                a0 = FloatVector.fromArray(F, v, vOff + j * hd + col).fma(FloatVector.broadcast(F, p[j]), a0);
            }
            a0.intoArray(acc, a + col);
        }
        if (col < hd) {
            FloatVector a0 = FloatVector.fromArray(F, acc, a + col).mul(c);
            for (int j = 0; j < n; j++) {
                a0 = FloatVector.fromArray(F, v, vOff + j * hd + col, tail).fma(FloatVector.broadcast(F, p[j]), a0);
            }
            a0.intoArray(acc, a + col);
        }
    }

    /** A thread's tiles: transposed keys [hd, BK], probabilities [BK], accumulators [BQ, hdPad], running max and sum [BQ]. */
    private static final class Scratch {
        float[] kt = new float[0];
        final float[] p = new float[BK];
        float[] acc = new float[0];
        final float[] max = new float[BQ];
        final float[] sum = new float[BQ];

        void fit(int hd, int hdPad) {
            if (kt.length < hd * BK) {
                kt = new float[hd * BK];
            }
            if (acc.length < BQ * hdPad) {
                acc = new float[BQ * hdPad];
            }
        }
    }
}
