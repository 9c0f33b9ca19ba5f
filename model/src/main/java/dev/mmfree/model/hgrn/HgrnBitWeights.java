package dev.mmfree.model.hgrn;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.model.checkpoint.TensorSource;
import dev.mmfree.model.config.HgrnBitConfig;

import java.util.ArrayList;
import java.util.List;

import static dev.mmfree.model.checkpoint.Tensors.require;

/**
 * HGRNBit weights as every backend starts from them ({@code ../shared/spec/hgrnbit.md}): BitLinear
 * weights ternarized once at load (the full-precision values are dropped), float32 norms and
 * embeddings, and the lower bounds already turned into the per-layer floor the recurrence uses.
 *
 * @param embeddings  [V, d] float, {@code model.embeddings.weight}
 * @param lowerBounds [L][d]: {@code cumsum(softmax(model.lower_bounds, over layers)) - that[0]}, so row 0
 *                    is zero; all zero when {@code use_lower_bound} is false
 * @param norm        [d], {@code model.norm.weight}
 * @param lmHead      [V, d], {@code lm_head.weight} (the embeddings, ternarized, when tied)
 * @param lmHeadNorm  [d], {@code lm_head.norm.weight}
 */
public record HgrnBitWeights(HgrnBitConfig config, float[] embeddings, float[][] lowerBounds, List<Layer> layers,
                             float[] norm, TernaryMatrix lmHead, float[] lmHeadNorm) {

    /**
     * One block, fields named after {@code model.layers.{l}.*}; each {@code xNorm} is the
     * {@code .norm.weight} of projection {@code xProj} (the BitLinear's own RMSNorm).
     *
     * @param attnNorm    [d] attn_norm.weight
     * @param iProj       [d, d] attn.i_proj
     * @param fProj       [d, d] attn.f_proj
     * @param gProj       [d, d] attn.g_proj
     * @param outGateNorm [d] attn.g_norm.weight: the RMSNorm of g in the output gate (not g_proj.norm)
     * @param oProj       [d, d] attn.o_proj
     * @param mlpNorm     [d] mlp_norm.weight
     * @param gateProj    [2I, d] mlp.gate_proj: rows [0, I) gate, [I, 2I) up
     * @param downProj    [d, I] mlp.down_proj, with downNorm [I]
     */
    public record Layer(float[] attnNorm,
                        TernaryMatrix iProj, float[] iNorm, TernaryMatrix fProj, float[] fNorm,
                        TernaryMatrix gProj, float[] gNorm, float[] outGateNorm, TernaryMatrix oProj, float[] oNorm,
                        float[] mlpNorm, TernaryMatrix gateProj, float[] gateNorm, TernaryMatrix downProj, float[] downNorm) {
        List<TernaryMatrix> projections() {
            return List.of(iProj, fProj, gProj, oProj, gateProj, downProj);
        }

        static final List<String> VECTOR_NAMES = List.of("attn_norm", "attn.i_proj.norm", "attn.f_proj.norm",
                "attn.g_proj.norm", "attn.g_norm", "attn.o_proj.norm", "mlp_norm", "mlp.gate_proj.norm", "mlp.down_proj.norm");

        /** The float vectors in {@link #VECTOR_NAMES} order (all [d] but down_proj.norm, [I]). */
        List<float[]> vectors() {
            return List.of(attnNorm, iNorm, fNorm, gNorm, outGateNorm, oNorm, mlpNorm, gateNorm, downNorm);
        }
    }

    public HgrnBitWeights {
        int v = config.vocab();
        int d = config.hidden();
        int n = config.intermediate();
        checkLength("embeddings", embeddings, (long) v * d);
        checkLength("norm", norm, d);
        checkLength("lm_head.norm", lmHeadNorm, d);
        checkShape("lm_head", lmHead, v, d);
        if (lowerBounds.length != config.layers() || layers.size() != config.layers()) {
            throw new CheckpointException("hgrn_bit weights: " + lowerBounds.length + " lower-bound rows and " + layers.size()
                    + " layers, config says " + config.layers());
        }
        for (int l = 0; l < layers.size(); l++) {
            String p = "layer " + l + " ";
            Layer y = layers.get(l);
            checkLength(p + "lower bound", lowerBounds[l], d);
            List<float[]> vectors = y.vectors();
            for (int k = 0; k < vectors.size(); k++) {
                checkLength(p + Layer.VECTOR_NAMES.get(k), vectors.get(k), k == vectors.size() - 1 ? n : d);
            }
            checkShape(p + "i_proj", y.iProj(), d, d);
            checkShape(p + "f_proj", y.fProj(), d, d);
            checkShape(p + "g_proj", y.gProj(), d, d);
            checkShape(p + "o_proj", y.oProj(), d, d);
            checkShape(p + "gate_proj", y.gateProj(), 2 * n, d);
            checkShape(p + "down_proj", y.downProj(), d, n);
        }
        layers = List.copyOf(layers);
    }

    private static void checkLength(String what, float[] a, long expected) {
        if (a == null || a.length != expected) {
            throw new CheckpointException("hgrn_bit weights: " + what + " has " + (a == null ? "no" : a.length) + " values, expected " + expected);
        }
    }

    private static void checkShape(String what, TernaryMatrix m, int out, int in) {
        if (m == null || m.out() != out || m.in() != in) {
            throw new CheckpointException("hgrn_bit weights: " + what + " is " + m + ", expected [" + out + ", " + in + "]");
        }
    }

    /** Loads and ternarizes every tensor; the source stays open (the caller closes it). */
    public static HgrnBitWeights load(TensorSource src) {
        HgrnBitConfig c = HgrnBitConfig.fromJson(src.config(), src.describe() + " config.json");
        int v = c.vocab();
        int d = c.hidden();
        int n = c.intermediate();
        float[] embeddings = require(src, "model.embeddings.weight", v, d);
        float[][] lowerBounds = c.useLowerBound()
                ? lowerBounds(require(src, "model.lower_bounds", c.layers(), d), c.layers(), d)
                : new float[c.layers()][d];
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            layers.add(new Layer(require(src, p + "attn_norm.weight", d),
                    ternary(src, p + "attn.i_proj.weight", d, d), require(src, p + "attn.i_proj.norm.weight", d),
                    ternary(src, p + "attn.f_proj.weight", d, d), require(src, p + "attn.f_proj.norm.weight", d),
                    ternary(src, p + "attn.g_proj.weight", d, d), require(src, p + "attn.g_proj.norm.weight", d),
                    require(src, p + "attn.g_norm.weight", d),
                    ternary(src, p + "attn.o_proj.weight", d, d), require(src, p + "attn.o_proj.norm.weight", d),
                    require(src, p + "mlp_norm.weight", d),
                    ternary(src, p + "mlp.gate_proj.weight", 2 * n, d), require(src, p + "mlp.gate_proj.norm.weight", d),
                    ternary(src, p + "mlp.down_proj.weight", d, n), require(src, p + "mlp.down_proj.norm.weight", n)));
        }
        float[] norm = require(src, "model.norm.weight", d);
        TernaryMatrix lmHead = c.tieWordEmbeddings()
                ? TernaryMatrix.ternarize(embeddings, v, d)
                : ternary(src, "lm_head.weight", v, d);
        return new HgrnBitWeights(c, embeddings, lowerBounds, layers, norm, lmHead, require(src, "lm_head.norm.weight", d));
    }

    private static TernaryMatrix ternary(TensorSource src, String name, int out, int in) {
        return TernaryMatrix.ternarize(require(src, name, out, in), out, in);
    }

    /**
     * The per-layer floor of the forget gate from the raw parameter [L, d]: per channel, the softmax
     * over layers, its running sum, minus the first entry (so layer 0 has no floor). Float32 as the
     * reference computes it.
     */
    public static float[][] lowerBounds(float[] raw, int layers, int d) {
        float[][] lb = new float[layers][d];
        for (int c = 0; c < d; c++) {
            float max = Float.NEGATIVE_INFINITY;
            for (int l = 0; l < layers; l++) {
                max = Math.max(max, raw[l * d + c]);
            }
            float[] e = new float[layers];
            float sum = 0;
            for (int l = 0; l < layers; l++) {
                e[l] = (float) Math.exp(raw[l * d + c] - max);
                sum += e[l];
            }
            float cum = 0;
            float first = e[0] / sum;
            for (int l = 0; l < layers; l++) {
                cum += e[l] / sum;
                lb[l][c] = cum - first;
            }
        }
        return lb;
    }

    /** Parameters of the checkpoint's tensors (tied embeddings counted once). */
    public long parameterCount() {
        long d = config.hidden();
        long n = config.intermediate();
        long perLayer = 4 * (d * d + d) + 2 * n * d + d + d * n + n + 3 * d;
        long p = (long) config.vocab() * d + config.layers() * perLayer + 2 * d;
        if (config.useLowerBound()) {
            p += config.layers() * d;
        }
        if (!config.tieWordEmbeddings()) {
            p += (long) config.vocab() * d;
        }
        return p;
    }

    /** Bytes as held here: packed ternary codes and their scales, float32 embeddings, norms and lower bounds. */
    public long packedBytes() {
        long floats = embeddings.length + norm.length + lmHeadNorm.length;
        long packed = lmHead.packedBytes() + 4;
        for (int l = 0; l < layers.size(); l++) {
            floats += lowerBounds[l].length;
            for (float[] w : layers.get(l).vectors()) {
                floats += w.length;
            }
            for (TernaryMatrix m : layers.get(l).projections()) {
                packed += m.packedBytes() + 4;
            }
        }
        return 4 * floats + packed;
    }

    /** Bytes of all parameters at 16 bits each (the bf16 checkpoint). */
    public long unpackedBytes() {
        return 2 * parameterCount();
    }
}
