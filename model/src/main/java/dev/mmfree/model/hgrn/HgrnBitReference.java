package dev.mmfree.model.hgrn;

import dev.mmfree.kernels.bitlinear.BitLinearReference;
import dev.mmfree.kernels.mlgru.MlgruReference;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.LedgeredModel;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.model.ReferenceBackend;
import dev.mmfree.model.TokenChecks;
import dev.mmfree.model.config.HgrnBitConfig;

/**
 * HGRNBit in plain Java, read top to bottom like {@code ../shared/spec/hgrnbit.md}: the model every
 * other backend is tested against.
 *
 * <p>One token through one block ({@code BL(x; W)} = RMSNorm with W's own norm, int8 quantize,
 * ternary accumulate):
 * <pre>
 *   x ─ RMSNorm_attn_norm ─ h ─┬─ BL(i_proj) ─ i ─┐
 *                              ├─ BL(f_proj) ─ f ─┼─ MLGRU step (state[l]) ─ o ─ BL(o_proj) ─ (+x) ─ x
 *                              └─ BL(g_proj) ─ g ─┘
 *   x ─ RMSNorm_mlp_norm ─ h ─ BL(gate_proj) ─ [gate | up] ─ silu(gate) * up ─ BL(down_proj) ─ (+x) ─ x
 * </pre>
 * Tokens run one at a time through all layers, so a prefill of t tokens and t decode steps are the
 * same computation. Per sequence the only state is {@code state}: L x d floats.
 */
public final class HgrnBitReference extends LedgeredModel {
    private final HgrnBitWeights w;
    private final HgrnBitConfig c;

    private final float[] x;          // [d] the residual stream
    private final float[] h;          // [d] a block norm's output
    private final float[] i;          // [d] i_proj output
    private final float[] f;          // [d] f_proj output (before the sigmoid)
    private final float[] g;          // [d] g_proj output
    private final float[] o;          // [d] the gated MLGRU output
    private final float[] gateUp;     // [2I] gate_proj output: gate, then up
    private final float[] xNorm;      // [max(d, I)] a BitLinear's own RMSNorm of its input
    private final byte[] xQ;          // [max(d, I)] int8 codes of xNorm
    private final float[] xScale = new float[1];  // [1] a / 127 of xQ

    public HgrnBitReference(HgrnBitWeights w) {
        super("hgrn_bit reference");
        this.w = w;
        this.c = w.config();
        int d = c.hidden();
        int n = c.intermediate();
        int widest = Math.max(d, n);
        x = new float[d];
        h = new float[d];
        i = new float[d];
        f = new float[d];
        g = new float[d];
        o = new float[d];
        gateUp = new float[2 * n];
        xNorm = new float[widest];
        xQ = new byte[widest];
        loaded(new ModelInfo(HgrnBitConfig.MODEL_TYPE, c.vocab(), d, c.layers(), w.parameterCount(), w.packedBytes(),
                w.unpackedBytes(), 4L * c.layers() * d, false), 4L * (6 * d + 2 * n + widest + 1) + widest);
    }

    @Override
    public String backend() {
        return ReferenceBackend.NAME;
    }

    @Override
    public String device() {
        return "CPU (plain Java reference)";
    }

    @Override
    protected State openBatch(int size) {
        return new State(size);
    }

    @Override
    public float[][][] forward(CausalLm.Batch batch, int[][] tokens, boolean allPositions) {
        State s = checkBatch(batch, State.class);
        int t = TokenChecks.check(tokens, s.size(), c.vocab());
        float[][][] logits = new float[s.size()][allPositions ? t : 1][];
        for (int b = 0; b < s.size(); b++) {
            for (int p = 0; p < t; p++) {
                boolean wanted = allPositions || p == t - 1;
                float[] out = step(s.state[b], tokens[b][p], wanted);
                if (wanted) {
                    logits[b][allPositions ? p : 0] = out;
                }
            }
        }
        advance(s, t);
        return logits;
    }

    /** One token of one sequence through the whole model; returns its logits [V] when wanted, else null. */
    private float[] step(float[][] state, int token, boolean wantLogits) {
        int d = c.hidden();
        int n = c.intermediate();
        double eps = c.rmsNormEps();
        // x = E[token]
        System.arraycopy(w.embeddings(), token * d, x, 0, d);
        for (int l = 0; l < c.layers(); l++) {
            HgrnBitWeights.Layer y = w.layers().get(l);
            // h = RMSNorm_attn_norm(x)
            RmsNormQuantReference.rmsNorm(x, 0, y.attnNorm(), h, 0, d, eps);
            // i, f, g = BitLinear(h; i_proj), BitLinear(h; f_proj), BitLinear(h; g_proj)
            bitLinear(h, y.iNorm(), y.iProj(), i, false);
            bitLinear(h, y.fNorm(), y.fProj(), f, false);
            bitLinear(h, y.gNorm(), y.gProj(), g, false);
            // f = lb + (1 - lb) * sigmoid(f); state = f * state + silu(i) * (1 - f); o = RMSNorm_g_norm(g) * silu(state)
            // (lb[0] is zero, so layer 0 keeps sigmoid(f), as the spec's "if l > 0")
            MlgruReference.step(i, f, g, 0, w.lowerBounds()[l], y.outGateNorm(), eps, state[l], o, d);
            // x = x + BitLinear(o; o_proj)
            bitLinear(o, y.oNorm(), y.oProj(), x, true);
            // h = RMSNorm_mlp_norm(x)
            RmsNormQuantReference.rmsNorm(x, 0, y.mlpNorm(), h, 0, d, eps);
            // [gate | up] = BitLinear(h; gate_proj)
            bitLinear(h, y.gateNorm(), y.gateProj(), gateUp, false);
            // x = x + BitLinear(silu(gate) * up; down_proj)
            SwiGluReference.apply(gateUp, 0, gateUp, n, gateUp, 0, n);
            bitLinear(gateUp, y.downNorm(), y.downProj(), x, true);
        }
        if (!wantLogits) {
            return null;
        }
        // logits = BitLinear(RMSNorm_norm(x); lm_head)
        RmsNormQuantReference.rmsNorm(x, 0, w.norm(), h, 0, d, eps);
        float[] logits = new float[c.vocab()];
        bitLinear(h, w.lmHeadNorm(), w.lmHead(), logits, false);
        return logits;
    }

    /** out (+)= BitLinear(in[0, W.in); W, wNorm): the projection's own RMSNorm (eps 1e-6), int8 quantize, ternary accumulate. */
    private void bitLinear(float[] in, float[] wNorm, TernaryMatrix weight, float[] out, boolean accumulate) {
        xScale[0] = RmsNormQuantReference.normQuantize(in, 0, wNorm, xQ, 0, weight.in(), xNorm);
        BitLinearReference.forward(weight, xQ, xScale, 1, out, accumulate);
    }

    /** The MLGRU states of a batch: [b][L][d] float, zero for a new sequence. */
    private final class State extends SequenceBatch {
        private final float[][][] state;

        State(int size) {
            super(size);
            this.state = new float[size][c.layers()][c.hidden()];
            stateAllocated(4L * size * c.layers() * c.hidden());
        }
    }
}
