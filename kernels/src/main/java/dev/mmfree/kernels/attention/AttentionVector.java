package dev.mmfree.kernels.attention;

import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal attention over KV caches with the Vector API, for a batch of sequences: decode (t = 1)
 * and prefill (t > 1); {@link AttentionReference} is the math.
 *
 * <p>q, out: [batch * t, H*hd] float (row s * t + k is token k of sequence s, at position pos0 + k);
 * keys[s], values[s]: [KV, capacity, hd] float of sequence s from kvOff (one layer), positions
 * 0 .. pos0 + t - 1 filled, so each head's keys are contiguous.
 *
 * <p>Decode (t = 1): work items (sequence, head) split over {@link CpuPool}; per item, scores by
 * dot products over hd (vector lanes, masked tail), softmax with the vector exp, then the weighted
 * sum of value rows. Prefill (t > 1), tiled ({@link AttentionTiles}): items (sequence, head, block
 * of {@value AttentionTiles#BQ} queries), the longest first; each walks its keys in blocks of BK
 * (4 vectors of lanes), transposed once per block into a scratch that stays in L1 with the value
 * rows while every query of the block uses them, with an online softmax (running max and sum,
 * earlier terms rescaled when the max grows). Untiled, each query streamed all its keys and values
 * from L2/L3: O(t^2) traffic per head. Float sums against the reference's double: agreement ~1e-6
 * relative. Scratch per thread, grown to the longest context seen. Not thread-safe per instance.
 * Test: {@code AttentionVectorTest}.
 */
public final class AttentionVector {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ThreadLocal<float[][]> SCORES = ThreadLocal.withInitial(() -> new float[1][0]);

    private final int heads;
    private final int kvHeads;
    private final int hd;
    private final float scale;
    private final int full;                   // hd rounded down to whole vectors
    private final VectorMask<Float> tail;     // lanes of the last partial vector of a head
    private final CpuPool pool;
    private final Call call = new Call();
    private final AttentionTiles tiles;

    public AttentionVector(CpuPool pool, int heads, int kvHeads, int hd) {
        if (heads < 1 || kvHeads < 1 || hd < 1 || heads % kvHeads != 0) {
            throw new MmfreeException("attention: need heads a multiple of kvHeads and hd >= 1, got heads " + heads + ", kvHeads "
                    + kvHeads + ", hd " + hd);
        }
        this.pool = pool;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.hd = hd;
        this.scale = (float) (1.0 / Math.sqrt(hd));
        this.full = F.loopBound(hd);
        this.tail = F.indexInRange(full, hd);
        this.tiles = new AttentionTiles(heads, kvHeads, hd);
    }

    public void forward(float[] q, int batch, int t, float[][] keys, float[][] values, int kvOff, int capacity, int pos0, float[] out) {
        int width = heads * hd;
        if (batch < 1 || t < 1 || pos0 < 0 || pos0 + t > capacity) {
            throw new MmfreeException("attention: batch " + batch + ", t " + t + ", pos0 " + pos0 + " do not fit capacity " + capacity);
        }
        if (q.length < batch * t * width || out.length < batch * t * width || keys.length < batch || values.length < batch) {
            throw new MmfreeException("attention: q " + q.length + ", out " + out.length + " values (need " + batch * t * width + "), "
                    + keys.length + " key and " + values.length + " value caches (need " + batch + ")");
        }
        long cacheNeed = kvOff + (long) kvHeads * capacity * hd;
        for (int s = 0; s < batch; s++) {
            if (keys[s].length < cacheNeed || values[s].length < cacheNeed) {
                throw new MmfreeException("attention: cache of sequence " + s + " has " + keys[s].length + "/" + values[s].length
                        + " values, need " + cacheNeed + " (kvOff + KV x capacity x hd)");
            }
        }
        if (t > 1) {
            tiles.set(q, batch, t, keys, values, kvOff, capacity, pos0, out);
            try {
                pool.parallelFor(tiles.items(), 1, tiles);
            } finally {
                tiles.set(null, 0, 0, null, null, 0, 0, 0, null);
            }
            return;
        }
        call.set(q, t, keys, values, kvOff, capacity, pos0, out);
        pool.parallelFor(batch * t * heads, 1, call);
        call.set(null, 0, null, null, 0, 0, 0, null);
    }

    private static float[] scores(int n) {
        float[][] holder = SCORES.get();
        if (holder[0].length < n) {
            holder[0] = new float[Math.max(n, 2 * holder[0].length)];
        }
        return holder[0];
    }

    /** One (token, head): out[oOff .. oOff + hd) = softmax(q . K / sqrt(hd)) V over positions 0 .. last. */
    private void attend(float[] q, int qOff, float[] keys, float[] values, int base, int last, float[] out, int oOff) {
        int n = last + 1;
        float[] sc = scores(n);
        float max = Float.NEGATIVE_INFINITY;
        for (int p = 0; p < n; p++) {
            int kOff = base + p * hd;
            FloatVector acc = FloatVector.zero(F);
            int j = 0;
            for (; j < full; j += F.length()) {
                acc = FloatVector.fromArray(F, q, qOff + j).fma(FloatVector.fromArray(F, keys, kOff + j), acc);
            }
            if (j < hd) {
                acc = FloatVector.fromArray(F, q, qOff + j, tail).fma(FloatVector.fromArray(F, keys, kOff + j, tail), acc);
            }
            float s = acc.reduceLanes(VectorOperators.ADD) * scale;
            sc[p] = s;
            max = Math.max(max, s);
        }
        FloatVector sumV = FloatVector.zero(F);
        int p = 0;
        for (int bound = F.loopBound(n); p < bound; p += F.length()) {
            FloatVector e = FloatVector.fromArray(F, sc, p).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(sc, p);
            sumV = sumV.add(e);
        }
        float sum = sumV.reduceLanes(VectorOperators.ADD);
        for (; p < n; p++) {
            sc[p] = (float) Math.exp(sc[p] - max);
            sum += sc[p];
        }
        int j = 0;
        for (; j < full; j += F.length()) {
            FloatVector acc = FloatVector.zero(F);
            for (p = 0; p < n; p++) {
                acc = FloatVector.fromArray(F, values, base + p * hd + j).fma(FloatVector.broadcast(F, sc[p]), acc);
            }
            acc.div(sum).intoArray(out, oOff + j);
        }
        if (j < hd) {
            FloatVector acc = FloatVector.zero(F);
            for (p = 0; p < n; p++) {
                acc = FloatVector.fromArray(F, values, base + p * hd + j, tail).fma(FloatVector.broadcast(F, sc[p]), acc);
            }
            acc.div(sum).intoArray(out, oOff + j, tail);
        }
    }

    private final class Call implements CpuPool.RangeTask {
        private float[] q;
        private int t;
        private float[][] keys;
        private float[][] values;
        private int kvOff;
        private int capacity;
        private int pos0;
        private float[] out;

        void set(float[] q, int t, float[][] keys, float[][] values, int kvOff, int capacity, int pos0, float[] out) {
            this.q = q;
            this.t = t;
            this.keys = keys;
            this.values = values;
            this.kvOff = kvOff;
            this.capacity = capacity;
            this.pos0 = pos0;
            this.out = out;
        }

        @Override
        public void run(int from, int to) {
            int group = heads / kvHeads;
            for (int item = from; item < to; item++) {
                int h = item % heads;
                int row = item / heads;
                int s = row / t;
                int k = row % t;
                int off = (row * heads + h) * hd;
                int base = kvOff + (h / group) * capacity * hd;
                attend(q, off, keys[s], values[s], base, pos0 + k, out, off);
            }
        }
    }
}
