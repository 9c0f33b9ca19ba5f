package dev.mmfree.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.model.checkpoint.TensorSource;
import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.model.config.LlamaConfig;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** A TensorSource held in memory for tests, with random tiny models; records whether it was closed. */
public final class MemoryTensorSource implements TensorSource {
    private record Tensor(long[] shape, float[] values) {
    }

    private final ObjectNode config;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private boolean closed;

    public MemoryTensorSource(ObjectNode config) {
        this.config = config;
    }

    public MemoryTensorSource put(String name, float[] values, long... shape) {
        tensors.put(name, new Tensor(shape, values));
        return this;
    }

    public MemoryTensorSource remove(String name) {
        tensors.remove(name);
        return this;
    }

    public float[] get(String name) {
        return tensors.get(name).values();
    }

    /** Elements of every tensor held. */
    public long elementCount() {
        return tensors.values().stream().mapToLong(t -> t.values().length).sum();
    }

    public boolean closed() {
        return closed;
    }

    @Override
    public ObjectNode config() {
        return config;
    }

    @Override
    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    @Override
    public float[] floats(String name, long... shape) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new CheckpointException(describe() + ": missing tensor '" + name + "'");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(describe() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        return t.values().clone();
    }

    @Override
    public String describe() {
        return "in-memory test source";
    }

    @Override
    public void close() {
        closed = true;
    }

    private static float[] random(Random rnd, int n, double std, double mean) {
        float[] v = new float[n];
        for (int k = 0; k < n; k++) {
            v[k] = (float) (mean + std * rnd.nextGaussian());
        }
        return v;
    }

    /** Random HGRNBit tensors for a config (lm_head.weight left out when tied). */
    public static MemoryTensorSource hgrn(HgrnBitConfig c, long seed) {
        Random rnd = new Random(seed);
        int v = c.vocab();
        int d = c.hidden();
        int n = c.intermediate();
        MemoryTensorSource s = new MemoryTensorSource(c.toJson());
        s.put("model.embeddings.weight", random(rnd, v * d, 1, 0), v, d);
        if (c.useLowerBound()) {
            s.put("model.lower_bounds", random(rnd, c.layers() * d, 1, 0), c.layers(), d);
        }
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            for (String norm : new String[]{"attn_norm", "mlp_norm", "attn.g_norm"}) {
                s.put(p + norm + ".weight", random(rnd, d, 0.1, 1), d);
            }
            for (String proj : new String[]{"attn.i_proj", "attn.f_proj", "attn.g_proj", "attn.o_proj"}) {
                s.put(p + proj + ".weight", random(rnd, d * d, 0.05, 0), d, d);
                s.put(p + proj + ".norm.weight", random(rnd, d, 0.1, 1), d);
            }
            s.put(p + "mlp.gate_proj.weight", random(rnd, 2 * n * d, 0.05, 0), 2L * n, d);
            s.put(p + "mlp.gate_proj.norm.weight", random(rnd, d, 0.1, 1), d);
            s.put(p + "mlp.down_proj.weight", random(rnd, d * n, 0.05, 0), d, n);
            s.put(p + "mlp.down_proj.norm.weight", random(rnd, n, 0.1, 1), n);
        }
        s.put("model.norm.weight", random(rnd, d, 0.1, 1), d);
        if (!c.tieWordEmbeddings()) {
            s.put("lm_head.weight", random(rnd, v * d, 0.05, 0), v, d);
        }
        s.put("lm_head.norm.weight", random(rnd, d, 0.1, 1), d);
        return s;
    }

    /** Random Llama tensors for a config (lm_head.weight left out when tied). */
    public static MemoryTensorSource llama(LlamaConfig c, long seed) {
        Random rnd = new Random(seed);
        int v = c.vocab();
        int d = c.hidden();
        int n = c.intermediate();
        int q = c.heads() * c.headDim();
        int kv = c.kvHeads() * c.headDim();
        MemoryTensorSource s = new MemoryTensorSource(c.toJson());
        s.put("model.embed_tokens.weight", random(rnd, v * d, 1, 0), v, d);
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            s.put(p + "input_layernorm.weight", random(rnd, d, 0.1, 1), d);
            s.put(p + "self_attn.q_proj.weight", random(rnd, q * d, 0.1, 0), q, d);
            s.put(p + "self_attn.k_proj.weight", random(rnd, kv * d, 0.1, 0), kv, d);
            s.put(p + "self_attn.v_proj.weight", random(rnd, kv * d, 0.1, 0), kv, d);
            s.put(p + "self_attn.o_proj.weight", random(rnd, d * q, 0.1, 0), d, q);
            s.put(p + "post_attention_layernorm.weight", random(rnd, d, 0.1, 1), d);
            s.put(p + "mlp.gate_proj.weight", random(rnd, n * d, 0.1, 0), n, d);
            s.put(p + "mlp.up_proj.weight", random(rnd, n * d, 0.1, 0), n, d);
            s.put(p + "mlp.down_proj.weight", random(rnd, d * n, 0.1, 0), d, n);
        }
        s.put("model.norm.weight", random(rnd, d, 0.1, 1), d);
        if (!c.tieWordEmbeddings()) {
            s.put("lm_head.weight", random(rnd, v * d, 0.1, 0), v, d);
        }
        return s;
    }

    /** A copy of this source with another config (same tensors). */
    public MemoryTensorSource withConfig(JsonNode newConfig) {
        MemoryTensorSource s = new MemoryTensorSource((ObjectNode) newConfig);
        s.tensors.putAll(tensors);
        return s;
    }
}
