package dev.mmfree.model.llama;

import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.model.checkpoint.TensorSource;
import dev.mmfree.model.config.LlamaConfig;

import java.util.ArrayList;
import java.util.List;

import static dev.mmfree.model.checkpoint.Tensors.require;

/**
 * Llama (Transformer++) weights, float32, row-major [out, in] as stored ({@code ../shared/spec/transformerpp.md}).
 *
 * @param embedTokens [V, d] {@code model.embed_tokens.weight}
 * @param norm        [d] {@code model.norm.weight}
 * @param lmHead      [V, d] {@code lm_head.weight}; the same array as embedTokens when tied
 */
public record LlamaWeights(LlamaConfig config, float[] embedTokens, List<Layer> layers, float[] norm, float[] lmHead) {

    /**
     * One block, fields named after {@code model.layers.{l}.*}.
     *
     * @param qProj    [H*hd, d]
     * @param kProj    [KV*hd, d]
     * @param vProj    [KV*hd, d]
     * @param oProj    [d, H*hd]
     * @param gateProj [I, d]
     * @param upProj   [I, d]
     * @param downProj [d, I]
     */
    public record Layer(float[] inputLayernorm, float[] qProj, float[] kProj, float[] vProj, float[] oProj,
                        float[] postAttentionLayernorm, float[] gateProj, float[] upProj, float[] downProj) {
        static final List<String> NAMES = List.of("input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight");

        /** The tensors in {@link #NAMES} order. */
        List<float[]> tensors() {
            return List.of(inputLayernorm, qProj, kProj, vProj, oProj, postAttentionLayernorm, gateProj, upProj, downProj);
        }
    }

    public LlamaWeights {
        long v = config.vocab();
        long d = config.hidden();
        checkLength("model.embed_tokens.weight", embedTokens, v * d);
        checkLength("model.norm.weight", norm, d);
        checkLength("lm_head.weight", lmHead, v * d);
        if (layers.size() != config.layers()) {
            throw new CheckpointException("llama weights: " + layers.size() + " layers, config says " + config.layers());
        }
        long[][] shapes = layerShapes(config);
        for (int l = 0; l < layers.size(); l++) {
            List<float[]> t = layers.get(l).tensors();
            for (int k = 0; k < t.size(); k++) {
                checkLength("model.layers." + l + "." + Layer.NAMES.get(k), t.get(k), shapes[k][0] * (shapes[k].length > 1 ? shapes[k][1] : 1));
            }
        }
        layers = List.copyOf(layers);
    }

    /** Shapes of a layer's tensors in {@link Layer#NAMES} order. */
    private static long[][] layerShapes(LlamaConfig c) {
        long d = c.hidden();
        long q = (long) c.heads() * c.headDim();
        long kv = (long) c.kvHeads() * c.headDim();
        long n = c.intermediate();
        return new long[][]{{d}, {q, d}, {kv, d}, {kv, d}, {d, q}, {d}, {n, d}, {n, d}, {d, n}};
    }

    private static void checkLength(String what, float[] a, long expected) {
        if (a == null || a.length != expected) {
            throw new CheckpointException("llama weights: " + what + " has " + (a == null ? "no" : a.length) + " values, expected " + expected);
        }
    }

    /** Loads every tensor as float32; the source stays open (the caller closes it). */
    public static LlamaWeights load(TensorSource src) {
        LlamaConfig c = LlamaConfig.fromJson(src.config(), src.describe() + " config.json");
        int v = c.vocab();
        int d = c.hidden();
        float[] embed = require(src, "model.embed_tokens.weight", v, d);
        long[][] shapes = layerShapes(c);
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            float[][] t = new float[shapes.length][];
            for (int k = 0; k < shapes.length; k++) {
                t[k] = require(src, "model.layers." + l + "." + Layer.NAMES.get(k), shapes[k]);
            }
            layers.add(new Layer(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8]));
        }
        float[] norm = require(src, "model.norm.weight", d);
        float[] head = c.tieWordEmbeddings() ? embed : require(src, "lm_head.weight", v, d);
        return new LlamaWeights(c, embed, layers, norm, head);
    }

    /** Parameters of the checkpoint's tensors (tied embeddings counted once). */
    public long parameterCount() {
        long p = embedTokens.length + norm.length;
        if (lmHead != embedTokens) {
            p += lmHead.length;
        }
        for (Layer y : layers) {
            for (float[] t : y.tensors()) {
                p += t.length;
            }
        }
        return p;
    }

    /** Bytes as held here: float32, a tied head not counted twice. */
    public long packedBytes() {
        return 4 * parameterCount();
    }

    /** Bytes of all parameters at 16 bits each. */
    public long unpackedBytes() {
        return 2 * parameterCount();
    }
}
