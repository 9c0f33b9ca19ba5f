package dev.mmfree.model.hgrn;

import dev.mmfree.kernels.bitlinear.BitLinearVector;
import dev.mmfree.kernels.mlgru.MlgruVector;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantVector;
import dev.mmfree.kernels.swiglu.SwiGluVector;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.CpuBackend;
import dev.mmfree.model.LedgeredModel;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.model.TokenChecks;
import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.runtime.cpu.CpuPool;

import java.util.List;

/**
 * HGRNBit on CPU cores: Vector API kernels on {@link CpuPool}, the same computation as
 * {@link HgrnBitReference} but with the tokens of all sequences batched through each layer.
 *
 * <p>A forward call runs in passes of up to {@value #MAX_ROWS} rows (b sequences x n tokens, row
 * s * n + k); each pass goes through every layer, and the MLGRU state carries the sequence from
 * one pass to the next. Per layer and pass ({@code BL} = the BitLinear kernel, fed by the fused
 * norm + quantize that precedes it):
 * <pre>
 *   x ─ RMSNorm_attn ─ h ─ RMSNorm_{i,f,g} + quant ─ qIfg [3, rows, d] ─ BL(i|f|g stacked) ─ ifg [rows, 3d]
 *   ifg ─ MLGRU scan (state [b, d]) ─ o ─ RMSNorm_o + quant ─ BL(o_proj) ─ (+x) ─ x
 *   x ─ RMSNorm_mlp ─ h ─ RMSNorm_gate + quant ─ BL(gate_proj) ─ [gate | up] ─ silu*up + RMSNorm_down + quant ─ BL(down_proj) ─ (+x) ─ x
 * </pre>
 * Decoding b sequences is one pass of b rows, so every weight is read once per step for the whole
 * batch (a GEMM). Scratch buffers grow to the largest pass seen and are then reused: a decode step
 * allocates only the logits it returns. Not thread-safe.
 */
public final class HgrnBitCpu extends LedgeredModel {
    /** Rows (tokens of all sequences) per pass through the layers. */
    static final int MAX_ROWS = 64;

    private final HgrnBitConfig c;
    private final CpuPool pool;
    private final float[] embeddings;     // [V, d]
    private final float[][] lowerBounds;  // [L][d]
    private final Layer[] layers;
    private final float[] norm;           // [d] model.norm
    private final float[][] headNorm;     // [1][d] lm_head.norm
    private final BitLinearVector lmHead; // [V, d]

    private int rowsCap;
    private float[] x;        // [rows, d] the residual stream
    private float[] h;        // [rows, d] a block norm's output
    private byte[] q;         // [max(3d, I) * rows] int8 codes of the next BitLinear's input
    private float[] factor;   // [3, rows] a / 127 of each row of q
    private float[] ifg;      // [rows, 3d] i | f | g projections
    private float[] o;        // [rows, d] the gated MLGRU output
    private float[] gateUp;   // [rows, 2I] gate | up
    private float[] p;        // [rows, I] silu(gate) * up
    private float[] xHead;    // [b, d] last rows gathered for the head
    private float[] logits;   // [rows, V]

    /** One block: the norms, and its BitLinears repacked for the Vector API (i, f, g stacked). */
    private record Layer(float[] attnNorm, float[][] ifgNorms, BitLinearVector ifg, float[] outGateNorm, float[] oNorm,
                         BitLinearVector oProj, float[] mlpNorm, float[][] gateNorm, BitLinearVector gateProj, float[] downNorm,
                         BitLinearVector downProj) {
    }

    public HgrnBitCpu(HgrnBitWeights w, CpuPool pool) {
        super("hgrn_bit cpu");
        this.c = w.config();
        this.pool = pool;
        this.embeddings = w.embeddings();
        this.lowerBounds = w.lowerBounds();
        this.norm = w.norm();
        this.headNorm = new float[][]{w.lmHeadNorm()};
        this.lmHead = new BitLinearVector(pool, w.lmHead());
        List<HgrnBitWeights.Layer> src = w.layers();
        this.layers = new Layer[src.size()];
        long bytes = lmHead.packedBytes() + 4L * (embeddings.length + 2L * c.hidden() + (long) c.layers() * c.hidden());
        for (int l = 0; l < layers.length; l++) {
            HgrnBitWeights.Layer y = src.get(l);
            layers[l] = new Layer(y.attnNorm(), new float[][]{y.iNorm(), y.fNorm(), y.gNorm()},
                    new BitLinearVector(pool, y.iProj(), y.fProj(), y.gProj()), y.outGateNorm(), y.oNorm(),
                    new BitLinearVector(pool, y.oProj()), y.mlpNorm(), new float[][]{y.gateNorm()},
                    new BitLinearVector(pool, y.gateProj()), y.downNorm(), new BitLinearVector(pool, y.downProj()));
            Layer k = layers[l];
            bytes += k.ifg.packedBytes() + k.oProj.packedBytes() + k.gateProj.packedBytes() + k.downProj.packedBytes();
            bytes += 4L * (8L * c.hidden() + c.intermediate());
        }
        loaded(new ModelInfo(HgrnBitConfig.MODEL_TYPE, c.vocab(), c.hidden(), c.layers(), w.parameterCount(), bytes,
                w.unpackedBytes(), 4L * c.layers() * c.hidden(), false), 0);
    }

    @Override
    public String backend() {
        return CpuBackend.NAME;
    }

    @Override
    public String device() {
        return CpuBackend.describe(pool);
    }

    @Override
    protected State openBatch(int size) {
        return new State(size);
    }

    @Override
    public float[][][] forward(CausalLm.Batch batch, int[][] tokens, boolean allPositions) {
        return pass(checkBatch(batch, State.class), tokens, allPositions, true);
    }

    @Override
    protected float[] forwardToHead(CausalLm.Batch batch, int[][] tokens) {
        pass(checkBatch(batch, State.class), tokens, false, false);
        return logits;
    }

    /**
     * Feeds tokens and returns the logits of every position, or of each sequence's last one; with
     * copyLast false (and not allPositions) it leaves those last rows in {@code logits} and returns null.
     */
    private float[][][] pass(State s, int[][] tokens, boolean allPositions, boolean copyLast) {
        int b = s.size();
        int t = TokenChecks.check(tokens, b, c.vocab());
        int d = c.hidden();
        int v = c.vocab();
        float[][][] result = allPositions || copyLast ? new float[b][allPositions ? t : 1][] : null;
        int chunk = Math.max(1, MAX_ROWS / b);
        for (int t0 = 0; t0 < t; t0 += chunk) {
            int n = Math.min(chunk, t - t0);
            int rows = b * n;
            ensureWorkspace(rows, b);
            // x[s * n + k] = E[tokens[s][t0 + k]]
            for (int sq = 0; sq < b; sq++) {
                for (int k = 0; k < n; k++) {
                    System.arraycopy(embeddings, tokens[sq][t0 + k] * d, x, (sq * n + k) * d, d);
                }
            }
            for (int l = 0; l < layers.length; l++) {
                layer(l, s.state[l], b, n);
            }
            if (allPositions) {
                head(x, rows);
                for (int r = 0; r < rows; r++) {
                    result[r / n][t0 + r % n] = copyRow(logits, r, v);
                }
            } else if (t0 + n == t) {
                for (int sq = 0; sq < b; sq++) {
                    System.arraycopy(x, (sq * n + n - 1) * d, xHead, sq * d, d);
                }
                head(xHead, b);
                for (int sq = 0; copyLast && sq < b; sq++) {
                    result[sq][0] = copyRow(logits, sq, v);
                }
            }
        }
        advance(s, t);
        return result;
    }

    /** One block over rows = b x n (sequence-major), advancing state [b, d]. */
    private void layer(int l, float[] state, int b, int n) {
        Layer y = layers[l];
        int rows = b * n;
        int d = c.hidden();
        int in = c.intermediate();
        double eps = c.rmsNormEps();
        // h = RMSNorm_attn_norm(x); qIfg[p] = quant(RMSNorm_{i,f,g}_proj.norm(h))
        RmsNormQuantVector.normNormQuantize(pool, x, rows, d, y.attnNorm, eps, y.ifgNorms, h, q, factor);
        // ifg = [i | f | g] = BitLinear(h; i_proj, f_proj, g_proj)
        y.ifg.forward(q, factor, rows, ifg, false);
        // f = lb + (1 - lb) * sigmoid(f); state = f * state + silu(i) * (1 - f); o = RMSNorm_g_norm(g) * silu(state)
        MlgruVector.scan(pool, ifg, b, n, d, lowerBounds[l], y.outGateNorm, eps, state, 0, o);
        // x = x + BitLinear(o; o_proj)
        RmsNormQuantVector.normQuantize(pool, o, rows, d, y.oNorm, q, factor);
        y.oProj.forward(q, factor, rows, x, true);
        // [gate | up] = BitLinear(RMSNorm_mlp_norm(x); gate_proj)
        RmsNormQuantVector.normNormQuantize(pool, x, rows, d, y.mlpNorm, eps, y.gateNorm, h, q, factor);
        y.gateProj.forward(q, factor, rows, gateUp, false);
        // x = x + BitLinear(silu(gate) * up; down_proj)
        SwiGluVector.applyNormQuantize(pool, gateUp, rows, in, y.downNorm, p, q, factor);
        y.downProj.forward(q, factor, rows, x, true);
    }

    /** logits[r] = BitLinear(RMSNorm_norm(src[r]); lm_head) for r < rows. */
    private void head(float[] src, int rows) {
        RmsNormQuantVector.normNormQuantize(pool, src, rows, c.hidden(), norm, c.rmsNormEps(), headNorm, h, q, factor);
        lmHead.forward(q, factor, rows, logits, false);
    }

    private static float[] copyRow(float[] a, int row, int n) {
        float[] r = new float[n];
        System.arraycopy(a, row * n, r, 0, n);
        return r;
    }

    /** Grows the scratch buffers to hold a pass of this many rows (and b gathered rows); no-op once large enough. */
    private void ensureWorkspace(int rows, int b) {
        int need = Math.max(rows, b);
        if (need <= rowsCap) {
            return;
        }
        int d = c.hidden();
        int in = c.intermediate();
        x = new float[need * d];
        h = new float[need * d];
        q = new byte[need * Math.max(3 * d, in)];
        factor = new float[3 * need];
        ifg = new float[need * 3 * d];
        o = new float[need * d];
        gateUp = new float[need * 2 * in];
        p = new float[need * in];
        xHead = new float[need * d];
        logits = new float[need * c.vocab()];
        workspaceResized((long) need * (4L * (8L * d + 3L * in + 3 + c.vocab()) + Math.max(3 * d, in)));
        rowsCap = need;
    }

    @Override
    protected void freeWorkspace() {
        rowsCap = 0;
        x = h = o = ifg = gateUp = p = xHead = logits = factor = null;
        q = null;
    }

    /** The MLGRU states of a batch: [L][b * d] float, zero for new sequences. */
    private final class State extends SequenceBatch {
        private final float[][] state;

        State(int size) {
            super(size);
            this.state = new float[c.layers()][size * c.hidden()];
            stateAllocated(4L * size * c.layers() * c.hidden());
        }
    }
}
