package dev.mmfree.kernels.mlgru;

import dev.mmfree.kernels.rmsnormquant.RmsNormQuantVector;
import dev.mmfree.kernels.swiglu.SwiGluVector;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The MLGRU recurrence with the Vector API: t token steps of one layer for a batch of sequences.
 *
 * <pre>
 *   f     = lb + (1 - lb) * sigmoid(fPre)          per channel; lb = the layer's lower bound [d]
 *   state = f * state + silu(i) * (1 - f)          state: [batch, d], carried from token to token
 *   o     = RMSNorm_gNorm(g) * silu(state)         eps = the model's
 * </pre>
 * ifg: [batch * t, 3d] float, row s * t + k holds token k of sequence s as [i | fPre | g] (the
 * stacked i/f/g projection's output); o: [batch * t, d]. The recurrence runs over channel ranges in
 * parallel (each channel is independent), the output gate over rows; from {@value #PARALLEL_ROWS}
 * rows on {@link CpuPool}, dispatched without allocating (a task object kept per calling thread).
 * Same operations as {@link MlgruReference} except exp in float (Vector API), so results agree to
 * float rounding.
 * Test: {@code MlgruVectorTest}.
 */
public final class MlgruVector {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int PARALLEL_ROWS = 16;
    private static final ThreadLocal<Scan> SCAN = ThreadLocal.withInitial(Scan::new);

    private MlgruVector() {
    }

    /** Runs t steps for each of batch sequences; state [batch, d] from stateOff is read and advanced. */
    public static void scan(CpuPool pool, float[] ifg, int batch, int t, int d, float[] lb, float[] gNorm, double eps,
                            float[] state, int stateOff, float[] o) {
        int rows = batch * t;
        if (batch < 1 || t < 1 || d < 1) {
            throw new MmfreeException("mlgru: batch, t and d must be >= 1, got " + batch + ", " + t + ", " + d);
        }
        if (ifg.length < rows * 3 * d || o.length < rows * d || state.length - stateOff < batch * d || lb.length < d || gNorm.length < d) {
            throw new MmfreeException("mlgru: ifg " + ifg.length + " (need " + rows * 3 * d + "), o " + o.length + " (need " + rows * d
                    + "), state " + (state.length - stateOff) + " past offset (need " + batch * d + "), lb " + lb.length + ", gNorm "
                    + gNorm.length + " (need " + d + ")");
        }
        if (rows < PARALLEL_ROWS) {
            recurrence(ifg, batch, t, d, lb, state, stateOff, o, 0, d);
            gate(ifg, d, gNorm, eps, o, 0, rows);
        } else {
            Scan.take().dispatch(pool, ifg, batch, t, d, lb, gNorm, eps, state, stateOff, o);
        }
    }

    /** Channels [from, to): advances the state through every token, writing silu(state) to o. */
    private static void recurrence(float[] ifg, int batch, int t, int d, float[] lb, float[] state, int stateOff, float[] o,
                                   int from, int to) {
        for (int s = 0; s < batch; s++) {
            int st = stateOff + s * d;
            for (int k = 0; k < t; k++) {
                int r = s * t + k;
                int iOff = r * 3 * d;
                int fOff = iOff + d;
                int j = from;
                for (int bound = from + F.loopBound(to - from); j < bound; j += F.length()) {
                    FloatVector lbV = FloatVector.fromArray(F, lb, j);
                    FloatVector f = lbV.add(lbV.neg().add(1f).mul(SwiGluVector.sigmoid(FloatVector.fromArray(F, ifg, fOff + j))));
                    FloatVector c = SwiGluVector.silu(FloatVector.fromArray(F, ifg, iOff + j)).mul(f.neg().add(1f));
                    FloatVector h = f.mul(FloatVector.fromArray(F, state, st + j)).add(c);
                    h.intoArray(state, st + j);
                    SwiGluVector.silu(h).intoArray(o, r * d + j);
                }
                for (; j < to; j++) {
                    float f = lb[j] + (1 - lb[j]) * (1f / (1f + (float) Math.exp(-ifg[fOff + j])));
                    float iv = ifg[iOff + j];
                    float h = f * state[st + j] + iv / (1f + (float) Math.exp(-iv)) * (1 - f);
                    state[st + j] = h;
                    o[r * d + j] = h / (1f + (float) Math.exp(-h));
                }
            }
        }
    }

    /** Rows [from, to): o = RMSNorm_gNorm(g) * o, where o holds silu(state). */
    private static void gate(float[] ifg, int d, float[] gNorm, double eps, float[] o, int from, int to) {
        for (int r = from; r < to; r++) {
            int gOff = r * 3 * d + 2 * d;
            float inv = RmsNormQuantVector.invRms(ifg, gOff, d, eps);
            int j = 0;
            for (int bound = F.loopBound(d); j < bound; j += F.length()) {
                FloatVector g = FloatVector.fromArray(F, ifg, gOff + j).mul(inv).mul(FloatVector.fromArray(F, gNorm, j));
                g.mul(FloatVector.fromArray(F, o, r * d + j)).intoArray(o, r * d + j);
            }
            for (; j < d; j++) {
                o[r * d + j] = ifg[gOff + j] * inv * gNorm[j] * o[r * d + j];
            }
        }
    }

    /**
     * The two parallel loops of a scan with their arguments (capturing lambdas would be new objects
     * per call): channels first, then rows. One per calling thread; a nested call takes a fresh one.
     */
    private static final class Scan implements CpuPool.RangeTask {
        private float[] ifg;
        private int batch;
        private int t;
        private int d;
        private float[] lb;
        private float[] gNorm;
        private double eps;
        private float[] state;
        private int stateOff;
        private float[] o;
        private boolean channels;
        private boolean busy;

        static Scan take() {
            Scan s = SCAN.get();
            return s.busy ? new Scan() : s;
        }

        void dispatch(CpuPool pool, float[] ifg, int batch, int t, int d, float[] lb, float[] gNorm, double eps, float[] state, int stateOff,
                 float[] o) {
            this.ifg = ifg;
            this.batch = batch;
            this.t = t;
            this.d = d;
            this.lb = lb;
            this.gNorm = gNorm;
            this.eps = eps;
            this.state = state;
            this.stateOff = stateOff;
            this.o = o;
            busy = true;
            try {
                channels = true;
                pool.parallelFor(d, F.length(), this);
                channels = false;
                pool.parallelFor(batch * t, 1, this);
            } finally {
                this.ifg = null;
                this.lb = null;
                this.gNorm = null;
                this.state = null;
                this.o = null;
                busy = false;
            }
        }

        @Override
        public void run(int from, int to) {
            if (channels) {
                recurrence(ifg, batch, t, d, lb, state, stateOff, o, from, to);
            } else {
                gate(ifg, d, gNorm, eps, o, from, to);
            }
        }
    }
}
