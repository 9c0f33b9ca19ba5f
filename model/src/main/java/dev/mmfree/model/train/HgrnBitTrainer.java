package dev.mmfree.model.train;

import dev.mmfree.model.checkpoint.TensorSource;
import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.runtime.cpu.CpuPool;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * HGRNBit forward and backward for training, in double, composing the ops of this package as
 * {@code ../shared/spec/hgrnbit.md}'s forward pass (same data flow as {@code HgrnBitReference}), over a
 * batch of b sequences of t tokens (rows r = seq * t + step). With {@code quantize} on, every BitLinear
 * fake-quantizes (latent weights, straight-through gradients); with it off, the model is smooth.
 * The loss is the mean next-token cross-entropy over the b * (t - 1) positions that have a next token.
 * Parameters carry the checkpoint's names; a tied head shares {@code model.embeddings.weight}.
 * The BitLinear matmuls run on the given {@link CpuPool} (bit-identical results for any thread count).
 */
public final class HgrnBitTrainer {
    private final HgrnBitConfig c;
    private final Map<String, Param> params;
    private final List<Layer> layers = new ArrayList<>();
    private final Param embeddings;     // [V, d]
    private final Param lowerBounds;    // [L, d], null without lower bounds
    private final Param norm;           // [d]
    private final BitLinearOp head;     // [V, d]
    private final CpuPool pool;

    private int[] tokens;               // [b * t] the last forward's input
    private double[] xFinal;            // [b * t, d] residual stream after the last layer
    private double[] rFinal;            // [b * t] inverse rms of the final norm
    private double[] lbP;               // [L, d] softmax of lower_bounds
    private double[] lb;                // [L, d] the floors
    private int b;
    private int t;

    /** One block's parameters, ops, and what its last forward keeps for backward. */
    private final class Layer {
        final Param attnNorm;
        final Param gNorm;
        final Param mlpNorm;
        final BitLinearOp iProj;
        final BitLinearOp fProj;
        final BitLinearOp gProj;
        final BitLinearOp oProj;
        final BitLinearOp gateProj;
        final BitLinearOp downProj;
        double[] xIn;        // [n, d] residual entering the block
        double[] rAttn;      // [n]
        double[] i;          // [n, d]
        double[] fPre;       // [n, d]
        double[] g;          // [n, d]
        Mlgru.Saved mlgru;
        double[] xMid;       // [n, d] residual after the token mixer
        double[] rMlp;       // [n]
        double[] gateUp;     // [n, 2I]

        Layer(int l, boolean quantize, BitLinearOp.Variant variant) {
            String p = "model.layers." + l + ".";
            attnNorm = param(p + "attn_norm.weight");
            gNorm = param(p + "attn.g_norm.weight");
            mlpNorm = param(p + "mlp_norm.weight");
            iProj = bitLinear(p + "attn.i_proj", quantize, variant);
            fProj = bitLinear(p + "attn.f_proj", quantize, variant);
            gProj = bitLinear(p + "attn.g_proj", quantize, variant);
            oProj = bitLinear(p + "attn.o_proj", quantize, variant);
            gateProj = bitLinear(p + "mlp.gate_proj", quantize, variant);
            downProj = bitLinear(p + "mlp.down_proj", quantize, variant);
        }
    }

    public HgrnBitTrainer(HgrnBitConfig config, Map<String, Param> params, boolean quantize, BitLinearOp.Variant variant) {
        this(config, params, quantize, variant, CpuPool.shared());
    }

    public HgrnBitTrainer(HgrnBitConfig config, Map<String, Param> params, boolean quantize, BitLinearOp.Variant variant,
                          CpuPool pool) {
        this.c = config;
        this.pool = pool;
        this.params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
        embeddings = param("model.embeddings.weight");
        lowerBounds = c.useLowerBound() ? param("model.lower_bounds") : null;
        for (int l = 0; l < c.layers(); l++) {
            layers.add(new Layer(l, quantize, variant));
        }
        norm = param("model.norm.weight");
        Param headWeight = c.tieWordEmbeddings() ? embeddings : param("lm_head.weight");
        head = new BitLinearOp(headWeight, param("lm_head.norm.weight"), quantize, variant, pool);
    }

    /** Every parameter's checkpoint name and shape, in checkpoint order (lm_head.weight left out when tied). */
    public static Map<String, int[]> shapes(HgrnBitConfig c) {
        int v = c.vocab();
        int d = c.hidden();
        int n = c.intermediate();
        Map<String, int[]> m = new LinkedHashMap<>();
        m.put("model.embeddings.weight", new int[]{v, d});
        if (c.useLowerBound()) {
            m.put("model.lower_bounds", new int[]{c.layers(), d});
        }
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            for (String name : new String[]{"attn_norm", "mlp_norm", "attn.g_norm"}) {
                m.put(p + name + ".weight", new int[]{d});
            }
            for (String proj : new String[]{"attn.i_proj", "attn.f_proj", "attn.g_proj", "attn.o_proj"}) {
                m.put(p + proj + ".weight", new int[]{d, d});
                m.put(p + proj + ".norm.weight", new int[]{d});
            }
            m.put(p + "mlp.gate_proj.weight", new int[]{2 * n, d});
            m.put(p + "mlp.gate_proj.norm.weight", new int[]{d});
            m.put(p + "mlp.down_proj.weight", new int[]{d, n});
            m.put(p + "mlp.down_proj.norm.weight", new int[]{n});
        }
        m.put("model.norm.weight", new int[]{d});
        if (!c.tieWordEmbeddings()) {
            m.put("lm_head.weight", new int[]{v, d});
        }
        m.put("lm_head.norm.weight", new int[]{d});
        return m;
    }

    /** The checkpoint's tensors as parameters, in double (the source stays open). */
    public static Map<String, Param> paramsFrom(TensorSource src, HgrnBitConfig c) {
        Map<String, Param> m = new LinkedHashMap<>();
        shapes(c).forEach((name, shape) -> {
            float[] f = src.floats(name, Arrays.stream(shape).asLongStream().toArray());
            double[] v = new double[f.length];
            for (int k = 0; k < f.length; k++) {
                v[k] = f[k];
            }
            m.put(name, new Param(name, v, shape));
        });
        return m;
    }

    /**
     * Fresh parameters from a seed: weight matrices and embeddings N(0, std^2), norm weights 1, lower
     * bounds 0 (a uniform softmax: floors l / L). The same seed gives the same values.
     */
    public static Map<String, Param> init(HgrnBitConfig c, long seed, double std) {
        Random rnd = new Random(seed);
        Map<String, Param> m = new LinkedHashMap<>();
        shapes(c).forEach((name, shape) -> {
            double[] v = new double[Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
            if (name.endsWith("norm.weight")) {
                Arrays.fill(v, 1);
            } else if (!name.equals("model.lower_bounds")) {
                for (int k = 0; k < v.length; k++) {
                    v[k] = std * rnd.nextGaussian();
                }
            }
            m.put(name, new Param(name, v, shape));
        });
        return m;
    }

    public Map<String, Param> params() {
        return params;
    }

    public void zeroGrad() {
        params.values().forEach(Param::zeroGrad);
    }

    /** Logits [b * t, V] of every position of tokens [b][t]. */
    public double[] logits(int[][] tokens) {
        b = tokens.length;
        t = b == 0 ? 0 : tokens[0].length;
        if (b == 0 || t == 0) {
            throw new TrainException("hgrn_bit trainer: empty batch " + b + " x " + t);
        }
        this.tokens = new int[b * t];
        for (int s = 0; s < b; s++) {
            if (tokens[s].length != t) {
                throw new TrainException("hgrn_bit trainer: sequence " + s + " has " + tokens[s].length + " tokens, sequence 0 has " + t);
            }
            System.arraycopy(tokens[s], 0, this.tokens, s * t, t);
        }
        int n = b * t;
        int d = c.hidden();
        int inter = c.intermediate();
        double eps = c.rmsNormEps();
        lbP = new double[c.layers() * d];
        lb = new double[c.layers() * d];
        if (lowerBounds != null) {
            LowerBounds.forward(lowerBounds.value(), c.layers(), d, lb, lbP);
        }
        // x = E[token]
        double[] x = Embedding.forward(embeddings.value(), c.vocab(), d, this.tokens);
        for (int l = 0; l < c.layers(); l++) {
            Layer y = layers.get(l);
            y.xIn = x;
            // h = RMSNorm_attn_norm(x); i, f, g = BitLinear(h; i_proj, f_proj, g_proj)
            double[] h = new double[n * d];
            y.rAttn = new double[n];
            RmsNorm.forward(x, y.attnNorm.value(), eps, n, d, h, y.rAttn);
            y.i = y.iProj.forward(h, n);
            y.fPre = y.fProj.forward(h, n);
            y.g = y.gProj.forward(h, n);
            // the MLGRU over time, then x = x + BitLinear(o; o_proj)
            double[] o = new double[n * d];
            y.mlgru = Mlgru.forward(y.i, y.fPre, y.g, Arrays.copyOfRange(lb, l * d, l * d + d), y.gNorm.value(), eps,
                    b, t, d, o);
            y.xMid = add(x, y.oProj.forward(o, n));
            // h = RMSNorm_mlp_norm(x); [gate | up] = BitLinear(h; gate_proj); x = x + BitLinear(silu(gate) * up; down_proj)
            double[] h2 = new double[n * d];
            y.rMlp = new double[n];
            RmsNorm.forward(y.xMid, y.mlpNorm.value(), eps, n, d, h2, y.rMlp);
            y.gateUp = y.gateProj.forward(h2, n);
            double[] swi = new double[n * inter];
            Activations.swiGlu(y.gateUp, n, inter, swi);
            x = add(y.xMid, y.downProj.forward(swi, n));
        }
        // logits = BitLinear(RMSNorm_norm(x); lm_head)
        xFinal = x;
        rFinal = new double[n];
        double[] hf = new double[n * d];
        RmsNorm.forward(x, norm.value(), eps, n, d, hf, rFinal);
        return head.forward(hf, n);
    }

    /** Mean next-token loss of tokens [b][t] (t >= 2); adds its gradient to every parameter's grad. */
    public double lossAndBackward(int[][] tokens) {
        double[] logits = logits(tokens);
        double[] dLogits = new double[logits.length];
        double loss = CrossEntropy.forwardBackward(logits, nextTokens(), c.vocab(), dLogits);
        backward(dLogits);
        return loss;
    }

    /** One optimizer step on tokens [b][t]: zero grads, loss and backward, clip to maxNorm, AdamW at lr; returns the loss. */
    public double trainStep(int[][] tokens, AdamW optimizer, double lr, double maxNorm) {
        zeroGrad();
        double loss = lossAndBackward(tokens);
        AdamW.clipGlobalNorm(params.values(), maxNorm);
        optimizer.step(params.values(), lr);
        return loss;
    }

    /** Mean next-token loss of tokens [b][t] (t >= 2), forward only. */
    public double loss(int[][] tokens) {
        double[] logits = logits(tokens);
        return CrossEntropy.forwardBackward(logits, nextTokens(), c.vocab(), new double[logits.length]);
    }

    private int[] nextTokens() {
        int[] next = new int[b * t];
        for (int r = 0; r < b * t; r++) {
            next[r] = r % t == t - 1 ? CrossEntropy.IGNORE : tokens[r + 1];
        }
        return next;
    }

    /** What the last {@link #logits} keeps for {@link #backward}, counted exactly (call between the two). */
    public SavedBytes savedBytes() {
        SavedBytes s = new SavedBytes().activation(tokens).activation(xFinal).activation(rFinal).activation(lbP).activation(lb);
        for (Layer y : layers) {
            s.activation(y.xIn).activation(y.rAttn).activation(y.i).activation(y.fPre).activation(y.g).activation(y.xMid)
                    .activation(y.rMlp).activation(y.gateUp);
            if (y.mlgru != null) {
                s.activation(y.mlgru.state()).activation(y.mlgru.gn()).activation(y.mlgru.rG());
            }
            for (BitLinearOp op : new BitLinearOp[]{y.iProj, y.fProj, y.gProj, y.oProj, y.gateProj, y.downProj}) {
                op.countSaved(s);
            }
        }
        head.countSaved(s);
        return s;
    }

    /** Backward of the last {@link #logits} from dLogits [b * t, V]. */
    public void backward(double[] dLogits) {
        int n = b * t;
        int d = c.hidden();
        int inter = c.intermediate();
        double eps = c.rmsNormEps();
        double[] dx = new double[n * d];
        RmsNorm.backward(head.backward(dLogits), xFinal, rFinal, norm.value(), n, d, dx, norm.grad());
        double[] dlb = new double[c.layers() * d];
        for (int l = c.layers() - 1; l >= 0; l--) {
            Layer y = layers.get(l);
            // MLP half: dx flows to xMid directly and through down_proj, SwiGLU, gate_proj, mlp_norm
            double[] dGateUp = new double[n * 2 * inter];
            Activations.swiGluBackward(y.downProj.backward(dx), y.gateUp, n, inter, dGateUp);
            double[] dMid = dx.clone();
            RmsNorm.backward(y.gateProj.backward(dGateUp), y.xMid, y.rMlp, y.mlpNorm.value(), n, d, dMid, y.mlpNorm.grad());
            // token mixer half: through o_proj, the MLGRU, the three projections and attn_norm
            double[] di = new double[n * d];
            double[] dfPre = new double[n * d];
            double[] dg = new double[n * d];
            double[] dlbRow = new double[d];
            Mlgru.backward(y.oProj.backward(dMid), y.i, y.fPre, y.g, Arrays.copyOfRange(lb, l * d, l * d + d),
                    y.gNorm.value(), y.mlgru, b, t, d, di, dfPre, dg, dlbRow, y.gNorm.grad());
            System.arraycopy(dlbRow, 0, dlb, l * d, d);
            double[] dh = add(add(y.iProj.backward(di), y.fProj.backward(dfPre)), y.gProj.backward(dg));
            dx = dMid.clone();
            RmsNorm.backward(dh, y.xIn, y.rAttn, y.attnNorm.value(), n, d, dx, y.attnNorm.grad());
        }
        if (lowerBounds != null) {
            LowerBounds.backward(dlb, lbP, c.layers(), d, lowerBounds.grad());
        }
        Embedding.backward(dx, tokens, d, embeddings.grad());
    }

    private static double[] add(double[] a, double[] b) {
        double[] s = new double[a.length];
        for (int k = 0; k < a.length; k++) {
            s[k] = a[k] + b[k];
        }
        return s;
    }

    private Param param(String name) {
        Param p = params.get(name);
        if (p == null) {
            throw new TrainException("hgrn_bit trainer: missing parameter '" + name + "'");
        }
        return p;
    }

    private BitLinearOp bitLinear(String prefix, boolean quantize, BitLinearOp.Variant variant) {
        return new BitLinearOp(param(prefix + ".weight"), param(prefix + ".norm.weight"), quantize, variant, pool);
    }
}
