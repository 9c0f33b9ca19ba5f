package dev.mmfree.model.llama;

import dev.mmfree.kernels.attention.AttentionVector;
import dev.mmfree.kernels.attention.RopeReference;
import dev.mmfree.kernels.attention.RopeVector;
import dev.mmfree.kernels.linear.LinearVector;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantVector;
import dev.mmfree.kernels.swiglu.SwiGluVector;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.CpuBackend;
import dev.mmfree.model.LedgeredModel;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.model.TokenChecks;
import dev.mmfree.model.config.LlamaConfig;
import dev.mmfree.runtime.cpu.CpuPool;

/**
 * The Transformer++ baseline on CPU cores: Vector API kernels on {@link CpuPool}, the same
 * computation as {@link LlamaReference}, with the tokens of all sequences batched through each
 * layer so that HGRNBit and Llama get the same treatment (see {@code HgrnBitCpu}).
 *
 * <p>A forward call runs in passes of up to {@value #MAX_ROWS} rows (b sequences x n tokens, row
 * s * n + k at position pos0 + k). Per layer and pass:
 * <pre>
 *   x ─ RMSNorm ─ h ─ Linear(q|k|v stacked) ─ RoPE(q, k) ─ k, v appended to the caches
 *   q ─ causal attention over the cache ─ Linear(o) ─ (+x) ─ x
 *   x ─ RMSNorm ─ h ─ Linear(gate|up stacked) ─ silu(gate) * up ─ Linear(down) ─ (+x) ─ x
 * </pre>
 * Weights in float32 or float16 storage ({@link LinearVector.Storage}); KV caches [KV, capacity, hd]
 * per sequence and layer, grown by doubling. Scratch buffers grow to the largest pass seen: a
 * decode step allocates only the logits it returns (none when it samples: {@link #forwardSample}), and a
 * cache when it doubles. Not thread-safe.
 */
public final class LlamaCpu extends LedgeredModel {
    static final int MAX_ROWS = 64;

    private final LlamaConfig c;
    private final CpuPool pool;
    private final float[] embed;          // [V, d]
    private final Layer[] layers;
    private final float[] norm;           // [d]
    private final LinearVector head;      // [V, d]
    private final AttentionVector attention;
    private final float[] invFreq;        // [hd/2]
    private final int qWidth;             // H * hd
    private final int kvWidth;            // KV * hd

    private int rowsCap;
    private float[] x;        // [rows, d] the residual stream
    private float[] h;        // [rows, d] a norm's output
    private float[] qkv;      // [rows, H*hd + 2*KV*hd] q | k | v
    private float[] q;        // [rows, H*hd] rotated queries
    private float[] attn;     // [rows, H*hd] concatenated head outputs
    private float[] gateUp;   // [rows, 2I] gate | up
    private float[] p;        // [rows, I] silu(gate) * up
    private float[] cos;      // [rows, hd/2] per token position of the pass
    private float[] sin;      // [rows, hd/2]
    private float[] xHead;    // [b, d] last rows gathered for the head
    private float[] logits;   // [rows, V]

    private record Layer(float[] inputNorm, LinearVector qkv, LinearVector o, float[] postNorm, LinearVector gateUp,
                         LinearVector down) {
    }

    public LlamaCpu(LlamaWeights w, CpuPool pool, LinearVector.Storage storage) {
        super("llama cpu");
        this.c = w.config();
        this.pool = pool;
        int d = c.hidden();
        int hd = c.headDim();
        this.qWidth = c.heads() * hd;
        this.kvWidth = c.kvHeads() * hd;
        this.embed = w.embedTokens();
        this.norm = w.norm();
        this.head = new LinearVector(pool, storage, d, w.lmHead());
        this.layers = new Layer[c.layers()];
        long bytes = head.weightBytes() + 4L * (embed.length + d);
        if (w.lmHead() == w.embedTokens() && storage == LinearVector.Storage.F32) {
            bytes -= head.weightBytes();
        }
        for (int l = 0; l < layers.length; l++) {
            LlamaWeights.Layer y = w.layers().get(l);
            layers[l] = new Layer(y.inputLayernorm(), new LinearVector(pool, storage, d, y.qProj(), y.kProj(), y.vProj()),
                    new LinearVector(pool, storage, qWidth, y.oProj()), y.postAttentionLayernorm(),
                    new LinearVector(pool, storage, d, y.gateProj(), y.upProj()), new LinearVector(pool, storage, c.intermediate(), y.downProj()));
            Layer k = layers[l];
            bytes += k.qkv.weightBytes() + k.o.weightBytes() + k.gateUp.weightBytes() + k.down.weightBytes() + 8L * d;
        }
        this.attention = new AttentionVector(pool, c.heads(), c.kvHeads(), hd);
        this.invFreq = RopeReference.invFreq(c.ropeTheta(), hd);
        loaded(new ModelInfo(LlamaConfig.MODEL_TYPE, c.vocab(), d, c.layers(), w.parameterCount(), bytes,
                w.unpackedBytes(), 2L * c.layers() * kvWidth * 4, true), 0);
    }

    @Override
    public String backend() {
        return CpuBackend.NAME;
    }

    @Override
    public String device() {
        return CpuBackend.describe(pool) + ", weights " + head.storage();
    }

    @Override
    protected Caches openBatch(int size) {
        return new Caches(size);
    }

    @Override
    public float[][][] forward(CausalLm.Batch batch, int[][] tokens, boolean allPositions) {
        return pass(checkBatch(batch, Caches.class), tokens, allPositions, true);
    }

    @Override
    protected float[] forwardToHead(CausalLm.Batch batch, int[][] tokens) {
        pass(checkBatch(batch, Caches.class), tokens, false, false);
        return logits;
    }

    /**
     * Feeds tokens and returns the logits of every position, or of each sequence's last one; with
     * copyLast false (and not allPositions) it leaves those last rows in {@code logits} and returns null.
     */
    private float[][][] pass(Caches s, int[][] tokens, boolean allPositions, boolean copyLast) {
        int b = s.size();
        int t = TokenChecks.check(tokens, b, c.vocab());
        int d = c.hidden();
        int v = c.vocab();
        s.ensureCapacity(s.position() + t);
        float[][][] result = allPositions || copyLast ? new float[b][allPositions ? t : 1][] : null;
        int chunk = Math.max(1, MAX_ROWS / b);
        for (int t0 = 0; t0 < t; t0 += chunk) {
            int n = Math.min(chunk, t - t0);
            int rows = b * n;
            int pos0 = s.position() + t0;
            ensureWorkspace(rows, b);
            for (int k = 0; k < n; k++) {
                RopeReference.angles(invFreq, pos0 + k, cos, sin, k * invFreq.length);
            }
            // x[s * n + k] = E[tokens[s][t0 + k]]
            for (int sq = 0; sq < b; sq++) {
                for (int k = 0; k < n; k++) {
                    System.arraycopy(embed, tokens[sq][t0 + k] * d, x, (sq * n + k) * d, d);
                }
            }
            for (int l = 0; l < layers.length; l++) {
                layer(l, s, b, n, pos0);
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

    /** One block over rows = b x n (sequence-major) at positions pos0 .. pos0 + n - 1. */
    private void layer(int l, Caches s, int b, int n, int pos0) {
        Layer y = layers[l];
        int rows = b * n;
        int d = c.hidden();
        int hd = c.headDim();
        int width = qWidth + 2 * kvWidth;
        int half = hd / 2;
        // h = RMSNorm(x); q, k, v = h Wq^T, h Wk^T, h Wv^T
        RmsNormQuantVector.rmsNorm(pool, x, rows, d, y.inputNorm, c.rmsNormEps(), h);
        y.qkv.forward(h, 0, rows, qkv, 0, false);
        // rotary on q and k; k and v appended to the caches of each sequence
        for (int r = 0; r < rows; r++) {
            int sq = r / n;
            int k = r % n;
            int off = r * width;
            RopeVector.rotate(qkv, off, c.heads(), hd, cos, sin, k * half);
            RopeVector.rotate(qkv, off + qWidth, c.kvHeads(), hd, cos, sin, k * half);
            System.arraycopy(qkv, off, q, r * qWidth, qWidth);
            for (int kh = 0; kh < c.kvHeads(); kh++) {
                int dst = (kh * s.capacity + pos0 + k) * hd;
                System.arraycopy(qkv, off + qWidth + kh * hd, s.keys[l][sq], dst, hd);
                System.arraycopy(qkv, off + qWidth + kvWidth + kh * hd, s.values[l][sq], dst, hd);
            }
        }
        // causal attention over positions 0 .. pos0 + k; x = x + concat(heads) Wo^T
        attention.forward(q, b, n, s.keys[l], s.values[l], 0, s.capacity, pos0, attn);
        y.o.forward(attn, 0, rows, x, 0, true);
        // x = x + (silu(h Wg^T) * (h Wu^T)) Wd^T with h = RMSNorm(x)
        RmsNormQuantVector.rmsNorm(pool, x, rows, d, y.postNorm, c.rmsNormEps(), h);
        y.gateUp.forward(h, 0, rows, gateUp, 0, false);
        SwiGluVector.apply(pool, gateUp, rows, c.intermediate(), p);
        y.down.forward(p, 0, rows, x, 0, true);
    }

    /** logits[r] = RMSNorm(src[r]) W_head^T for r < rows. */
    private void head(float[] src, int rows) {
        RmsNormQuantVector.rmsNorm(pool, src, rows, c.hidden(), norm, c.rmsNormEps(), h);
        head.forward(h, 0, rows, logits, 0, false);
    }

    private static float[] copyRow(float[] a, int row, int n) {
        float[] r = new float[n];
        System.arraycopy(a, row * n, r, 0, n);
        return r;
    }

    private void ensureWorkspace(int rows, int b) {
        int need = Math.max(rows, b);
        if (need <= rowsCap) {
            return;
        }
        int d = c.hidden();
        int in = c.intermediate();
        int half = c.headDim() / 2;
        x = new float[need * d];
        h = new float[need * d];
        qkv = new float[need * (qWidth + 2 * kvWidth)];
        q = new float[need * qWidth];
        attn = new float[need * qWidth];
        gateUp = new float[need * 2 * in];
        p = new float[need * in];
        cos = new float[need * half];
        sin = new float[need * half];
        xHead = new float[need * d];
        logits = new float[need * c.vocab()];
        workspaceResized(4L * need * (3L * d + 3L * qWidth + 2L * kvWidth + 3L * in + 2L * half + c.vocab()));
        rowsCap = need;
    }

    @Override
    protected void freeWorkspace() {
        rowsCap = 0;
        x = h = qkv = q = attn = gateUp = p = cos = sin = xHead = logits = null;
    }

    /** KV caches of a batch: keys[l][s], values[l][s] = [KV, capacity, hd] float. */
    private final class Caches extends SequenceBatch {
        private final float[][][] keys;
        private final float[][][] values;
        private int capacity;

        Caches(int size) {
            super(size);
            this.keys = new float[c.layers()][size][0];
            this.values = new float[c.layers()][size][0];
        }

        /** Grows every cache to hold at least {@code positions} tokens, keeping what it holds. */
        void ensureCapacity(int positions) {
            if (positions <= capacity) {
                return;
            }
            int grown = Math.max(positions, Math.max(64, 2 * capacity));
            long before = bytes();
            int hd = c.headDim();
            for (int l = 0; l < c.layers(); l++) {
                for (int sq = 0; sq < size(); sq++) {
                    keys[l][sq] = relayout(keys[l][sq], grown, hd);
                    values[l][sq] = relayout(values[l][sq], grown, hd);
                }
            }
            capacity = grown;
            stateAllocated(bytes() - before);
        }

        private float[] relayout(float[] old, int grown, int hd) {
            float[] a = new float[Math.multiplyExact(Math.multiplyExact(c.kvHeads(), grown), hd)];
            for (int kh = 0; kh < c.kvHeads() && capacity > 0; kh++) {
                System.arraycopy(old, kh * capacity * hd, a, kh * grown * hd, position() * hd);
            }
            return a;
        }

        private long bytes() {
            return 2L * 4 * size() * c.layers() * capacity * kvWidth;
        }
    }
}
