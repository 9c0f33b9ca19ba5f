package dev.mmfree.model.llama;

import dev.mmfree.kernels.linear.LinearReference;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.LedgeredModel;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.model.ReferenceBackend;
import dev.mmfree.model.TokenChecks;
import dev.mmfree.model.config.LlamaConfig;

import java.util.Arrays;

/**
 * The Transformer++ baseline (Hugging Face {@code LlamaForCausalLM}) in plain Java, read top to bottom
 * like {@code ../shared/spec/transformerpp.md}: the model other Llama backends are tested against.
 *
 * <p>Tokens run one at a time through all layers; each appends its keys and values to the sequence's
 * cache and attends over positions 0..p, which is causal attention, so a prefill and token-by-token
 * decoding are the same computation. The KV cache grows by doubling as a sequence gets longer, with
 * no cap (default rotary embeddings have no length limit; max_position_embeddings is not enforced).
 */
public final class LlamaReference extends LedgeredModel {
    private final LlamaWeights w;
    private final LlamaConfig c;
    private final float[] invFreq;    // [hd/2] theta^(-2j/hd), float32 as HF computes it
    private final int kvWidth;        // KV * hd: one position's keys (or values) in one layer

    private final float[] x;          // [d] the residual stream
    private final float[] h;          // [d] a norm's output
    private final float[] q;          // [H*hd] queries, then rotated
    private final float[] k;          // [KV*hd] keys of this position, rotated
    private final float[] v;          // [KV*hd] values of this position
    private final float[] attn;       // [H*hd] concatenated head outputs
    private final float[] gate;       // [I] gate_proj output, then silu(gate) * up
    private final float[] up;         // [I] up_proj output
    private final float[] cos;        // [hd/2] cos(p * inv_freq)
    private final float[] sin;        // [hd/2] sin(p * inv_freq)

    public LlamaReference(LlamaWeights w) {
        super("llama reference");
        this.w = w;
        this.c = w.config();
        int d = c.hidden();
        int hd = c.headDim();
        kvWidth = c.kvHeads() * hd;
        invFreq = new float[hd / 2];
        for (int j = 0; j < hd / 2; j++) {
            float exponent = (float) (2 * j) / hd;
            invFreq[j] = 1.0f / (float) Math.pow(c.ropeTheta(), exponent);
        }
        x = new float[d];
        h = new float[d];
        q = new float[c.heads() * hd];
        k = new float[kvWidth];
        v = new float[kvWidth];
        attn = new float[c.heads() * hd];
        gate = new float[c.intermediate()];
        up = new float[c.intermediate()];
        cos = new float[hd / 2];
        sin = new float[hd / 2];
        loaded(new ModelInfo(LlamaConfig.MODEL_TYPE, c.vocab(), d, c.layers(), w.parameterCount(), w.packedBytes(),
                        w.unpackedBytes(), 2L * c.layers() * kvWidth * 4, true),
                4L * (2 * d + 2 * q.length + 2 * kvWidth + 2 * c.intermediate() + 3 * (hd / 2)));
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
    protected Caches openBatch(int size) {
        return new Caches(size);
    }

    @Override
    public float[][][] forward(CausalLm.Batch batch, int[][] tokens, boolean allPositions) {
        Caches s = checkBatch(batch, Caches.class);
        int t = TokenChecks.check(tokens, s.size(), c.vocab());
        s.ensureCapacity(s.position() + t);
        float[][][] logits = new float[s.size()][allPositions ? t : 1][];
        for (int b = 0; b < s.size(); b++) {
            for (int p = 0; p < t; p++) {
                boolean wanted = allPositions || p == t - 1;
                float[] out = step(s.keys[b], s.values[b], s.position() + p, tokens[b][p], wanted);
                if (wanted) {
                    logits[b][allPositions ? p : 0] = out;
                }
            }
        }
        advance(s, t);
        return logits;
    }

    /**
     * One token at position pos of one sequence through the model; its keys and values go into
     * keys[l], values[l] ([capacity, KV*hd] each). Returns the logits [V] when wanted, else null.
     */
    private float[] step(float[][] keys, float[][] values, int pos, int token, boolean wantLogits) {
        int d = c.hidden();
        int hd = c.headDim();
        int n = c.intermediate();
        double eps = c.rmsNormEps();
        // x = E[token]
        System.arraycopy(w.embedTokens(), token * d, x, 0, d);
        // cos, sin of p * inv_freq
        for (int j = 0; j < hd / 2; j++) {
            float angle = (float) pos * invFreq[j];
            cos[j] = (float) Math.cos(angle);
            sin[j] = (float) Math.sin(angle);
        }
        for (int l = 0; l < c.layers(); l++) {
            LlamaWeights.Layer y = w.layers().get(l);
            // h = RMSNorm(x)
            RmsNormQuantReference.rmsNorm(x, 0, y.inputLayernorm(), h, 0, d, eps);
            // q, k, v = h Wq^T, h Wk^T, h Wv^T
            LinearReference.forward(y.qProj(), q.length, d, h, 0, q, 0, false);
            LinearReference.forward(y.kProj(), kvWidth, d, h, 0, k, 0, false);
            LinearReference.forward(y.vProj(), kvWidth, d, h, 0, v, 0, false);
            // rotary at position pos, per head
            for (int head = 0; head < c.heads(); head++) {
                rotate(q, head * hd, hd);
            }
            for (int head = 0; head < c.kvHeads(); head++) {
                rotate(k, head * hd, hd);
            }
            // append k, v to the cache
            System.arraycopy(k, 0, keys[l], pos * kvWidth, kvWidth);
            System.arraycopy(v, 0, values[l], pos * kvWidth, kvWidth);
            // each query head attends causally over positions 0..pos of its key/value head
            for (int head = 0; head < c.heads(); head++) {
                attend(head, keys[l], values[l], pos);
            }
            // x = x + concat(heads) Wo^T
            LinearReference.forward(y.oProj(), d, attn.length, attn, 0, x, 0, true);
            // h = RMSNorm(x)
            RmsNormQuantReference.rmsNorm(x, 0, y.postAttentionLayernorm(), h, 0, d, eps);
            // x = x + (silu(h Wg^T) * (h Wu^T)) Wd^T
            LinearReference.forward(y.gateProj(), n, d, h, 0, gate, 0, false);
            LinearReference.forward(y.upProj(), n, d, h, 0, up, 0, false);
            SwiGluReference.apply(gate, 0, up, 0, gate, 0, n);
            LinearReference.forward(y.downProj(), d, n, gate, 0, x, 0, true);
        }
        if (!wantLogits) {
            return null;
        }
        // logits = RMSNorm(x) W_head^T
        RmsNormQuantReference.rmsNorm(x, 0, w.norm(), h, 0, d, eps);
        float[] logits = new float[c.vocab()];
        LinearReference.forward(w.lmHead(), c.vocab(), d, h, 0, logits, 0, false);
        return logits;
    }

    /** a = a*cos + rot(a)*sin on one head a[off, off+hd), rot(a) = [-a[hd/2:], a[:hd/2]]. */
    private void rotate(float[] a, int off, int hd) {
        int half = hd / 2;
        for (int j = 0; j < half; j++) {
            float first = a[off + j];
            float second = a[off + half + j];
            a[off + j] = first * cos[j] - second * sin[j];
            a[off + half + j] = second * cos[j] + first * sin[j];
        }
    }

    /** attn[head] = softmax(q[head] . k[0..pos] / sqrt(hd)) . v[0..pos], over the head's key/value head. */
    private void attend(int head, float[] keys, float[] values, int pos) {
        int hd = c.headDim();
        int kvOff = (head / c.groupSize()) * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));
        float[] scores = new float[pos + 1];
        float max = Float.NEGATIVE_INFINITY;
        for (int p = 0; p <= pos; p++) {
            double dot = 0;
            for (int j = 0; j < hd; j++) {
                dot += (double) q[head * hd + j] * keys[p * kvWidth + kvOff + j];
            }
            scores[p] = (float) dot * scale;
            max = Math.max(max, scores[p]);
        }
        double sum = 0;
        for (int p = 0; p <= pos; p++) {
            scores[p] = (float) Math.exp(scores[p] - max);
            sum += scores[p];
        }
        for (int j = 0; j < hd; j++) {
            double acc = 0;
            for (int p = 0; p <= pos; p++) {
                acc += (double) scores[p] * values[p * kvWidth + kvOff + j];
            }
            attn[head * hd + j] = (float) (acc / sum);
        }
    }

    /** The KV caches of a batch: keys and values [b][L][capacity * KV*hd] float, grown by doubling. */
    private final class Caches extends SequenceBatch {
        private final float[][][] keys;
        private final float[][][] values;
        private int capacity;

        Caches(int size) {
            super(size);
            this.keys = new float[size][c.layers()][0];
            this.values = new float[size][c.layers()][0];
        }

        /** Grows every cache to hold at least {@code positions} tokens. */
        void ensureCapacity(int positions) {
            if (positions <= capacity) {
                return;
            }
            int grown = Math.max(positions, Math.max(16, 2 * capacity));
            long bytesBefore = bytes();
            for (int b = 0; b < size(); b++) {
                for (int l = 0; l < c.layers(); l++) {
                    keys[b][l] = Arrays.copyOf(keys[b][l], Math.multiplyExact(grown, kvWidth));
                    values[b][l] = Arrays.copyOf(values[b][l], Math.multiplyExact(grown, kvWidth));
                }
            }
            capacity = grown;
            stateAllocated(bytes() - bytesBefore);
        }

        private long bytes() {
            return 2L * 4 * size() * c.layers() * capacity * kvWidth;
        }
    }
}
