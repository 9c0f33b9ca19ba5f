package dev.mmfree.model.generate;

import dev.mmfree.model.CausalLm;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.runtime.MemoryLedger;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A deterministic stand-in model: the logits after a sequence are a pseudo-random function of all
 * of its tokens (a rolling hash), so any mix-up of state between batches or any lost or repeated
 * token changes every later logit.
 */
final class FakeLm implements CausalLm {
    final int vocab;
    int openBatches;
    int forwardCalls;
    final List<Batch> calls = new ArrayList<>();

    FakeLm(int vocab) {
        this.vocab = vocab;
    }

    final class FakeBatch implements Batch {
        final long[] hash;
        int position;
        boolean closed;

        FakeBatch(int size) {
            hash = new long[size];
            openBatches++;
        }

        @Override
        public int size() {
            return hash.length;
        }

        @Override
        public int position() {
            return position;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                openBatches--;
            }
        }
    }

    /** Logits after the given whole sequence, computed from scratch. */
    float[] logitsAfter(int... sequence) {
        long h = 0;
        for (int t : sequence) {
            h = step(h, t);
        }
        return row(h);
    }

    private static long step(long h, int token) {
        return (h ^ token) * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
    }

    private float[] row(long h) {
        SplittableRandom r = new SplittableRandom(h);
        float[] l = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            l[i] = (float) (r.nextGaussian() * 2);
        }
        return l;
    }

    @Override
    public ModelInfo info() {
        return new ModelInfo("fake", vocab, 8, 1, 100, 400, 200, 32, false);
    }

    @Override
    public String backend() {
        return "fake";
    }

    @Override
    public String device() {
        return "test";
    }

    @Override
    public MemoryLedger memory() {
        return new MemoryLedger();
    }

    @Override
    public Batch newBatch(int size) {
        return new FakeBatch(size);
    }

    @Override
    public float[][][] forward(Batch batch, int[][] tokens, boolean allPositions) {
        FakeBatch b = (FakeBatch) batch;
        if (b.closed) {
            throw new IllegalStateException("forward on a closed batch");
        }
        forwardCalls++;
        calls.add(b);
        int t = tokens[0].length;
        float[][][] out = new float[b.size()][allPositions ? t : 1][];
        for (int s = 0; s < b.size(); s++) {
            if (tokens[s].length != t || t == 0) {
                throw new IllegalArgumentException("ragged or empty tokens");
            }
            for (int p = 0; p < t; p++) {
                if (tokens[s][p] < 0 || tokens[s][p] >= vocab) {
                    throw new IllegalArgumentException("token out of range");
                }
                b.hash[s] = step(b.hash[s], tokens[s][p]);
                if (allPositions || p == t - 1) {
                    out[s][allPositions ? p : 0] = row(b.hash[s]);
                }
            }
        }
        b.position += t;
        return out;
    }

    @Override
    public void close() {
    }
}
