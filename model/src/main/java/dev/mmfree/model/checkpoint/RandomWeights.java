package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Random weights at a model's real shape, for benchmarks without a checkpoint: an HGRNBit
 * ({@code ../shared/spec/hgrnbit.md}) or a Llama / Transformer++ of the same d, L, vocab and
 * intermediate size ({@code transformerpp.md}), with the names, shapes and config.json fields a
 * checkpoint of that model has. Each tensor is generated when asked for, from (seed, name) alone,
 * so any subset reads the same values in any order. Values are uniform: norm weights 1 +- 0.05,
 * lower bounds +- 0.1, projections and embeddings with std 0.02 (Hugging Face's initializer_range).
 */
public final class RandomWeights implements TensorSource {
    /**
     * Model shapes. M370, B1_3 and B2_7 are the released MMfreeLM checkpoints. B13 is approximate: the
     * paper measures a randomly initialized 13B model without giving its shape here, so this is
     * Llama-2-13B's (L 40, d 5120; the intermediate formula gives its 13824 too). Llama heads are
     * d / headDim, as many key/value heads as query heads.
     */
    public enum Preset {
        TINY(2, 64, 512, 64), M370(24, 1024, 32000, 128), B1_3(24, 2048, 32000, 128), B2_7(32, 2560, 32000, 128),
        B13(40, 5120, 32000, 128);

        private final int layers;
        private final int hidden;
        private final int vocab;
        private final int headDim;

        Preset(int layers, int hidden, int vocab, int headDim) {
            this.layers = layers;
            this.hidden = hidden;
            this.vocab = vocab;
            this.headDim = headDim;
        }

        public int layers() {
            return layers;
        }

        public int hidden() {
            return hidden;
        }

        public int vocab() {
            return vocab;
        }

        /** Llama head size; heads = hidden / headDim. */
        public int headDim() {
            return headDim;
        }

        /** I = 256 * ceil(int(d * hidden_ratio * 2 / 3) / 256) with hidden_ratio 4 (hgrnbit.md). */
        public int intermediate() {
            int base = hidden * 4 * 2 / 3;
            return 256 * ((base + 255) / 256);
        }
    }

    private enum Init { NORM, BOUNDS, WEIGHT }

    private record Spec(long[] shape, Init init) {
    }

    private static final float NORM_NOISE = 0.05f;
    private static final float BOUNDS_NOISE = 0.1f;
    /** Uniform(-a, a) has std a / sqrt(3): this gives std 0.02. */
    private static final float WEIGHT_BOUND = (float) (0.02 * Math.sqrt(3));

    private final String architecture;
    private final Preset preset;
    private final long seed;
    private final ObjectNode config;
    private final Map<String, Spec> specs;

    private RandomWeights(String architecture, Preset preset, long seed, ObjectNode config, Map<String, Spec> specs) {
        this.architecture = architecture;
        this.preset = preset;
        this.seed = seed;
        this.config = config;
        this.specs = Collections.unmodifiableMap(specs);
    }

    public static RandomWeights hgrnBit(Preset p, long seed) {
        long d = p.hidden;
        long i = p.intermediate();
        long v = p.vocab;
        Map<String, Spec> s = new LinkedHashMap<>();
        s.put("model.embeddings.weight", new Spec(new long[] {v, d}, Init.WEIGHT));
        s.put("model.lower_bounds", new Spec(new long[] {p.layers, d}, Init.BOUNDS));
        for (int l = 0; l < p.layers; l++) {
            String pre = "model.layers." + l + ".";
            norm(s, pre + "attn_norm.weight", d);
            for (String proj : new String[] {"i_proj", "f_proj", "g_proj", "o_proj"}) {
                weight(s, pre + "attn." + proj + ".weight", d, d);
                norm(s, pre + "attn." + proj + ".norm.weight", d);
            }
            norm(s, pre + "attn.g_norm.weight", d);
            norm(s, pre + "mlp_norm.weight", d);
            weight(s, pre + "mlp.gate_proj.weight", 2 * i, d);
            norm(s, pre + "mlp.gate_proj.norm.weight", d);
            weight(s, pre + "mlp.down_proj.weight", d, i);
            norm(s, pre + "mlp.down_proj.norm.weight", i);
        }
        norm(s, "model.norm.weight", d);
        weight(s, "lm_head.weight", v, d);
        norm(s, "lm_head.norm.weight", d);

        ObjectNode c = baseConfig(p, "hgrn_bit", "HGRNBitForCausalLM");
        c.put("num_heads", 1);
        c.put("expand_ratio", 1);
        c.put("hidden_ratio", 4);
        c.put("use_short_conv", false);
        c.put("use_lower_bound", true);
        c.put("attn_mode", "fused_recurrent");
        c.put("hidden_act", "swish");
        return new RandomWeights("hgrn_bit", p, seed, c, s);
    }

    public static RandomWeights llama(Preset p, long seed) {
        long d = p.hidden;
        long i = p.intermediate();
        long v = p.vocab;
        long heads = d / p.headDim;
        long attn = heads * p.headDim;
        Map<String, Spec> s = new LinkedHashMap<>();
        weight(s, "model.embed_tokens.weight", v, d);
        for (int l = 0; l < p.layers; l++) {
            String pre = "model.layers." + l + ".";
            norm(s, pre + "input_layernorm.weight", d);
            weight(s, pre + "self_attn.q_proj.weight", attn, d);
            weight(s, pre + "self_attn.k_proj.weight", attn, d);
            weight(s, pre + "self_attn.v_proj.weight", attn, d);
            weight(s, pre + "self_attn.o_proj.weight", d, attn);
            norm(s, pre + "post_attention_layernorm.weight", d);
            weight(s, pre + "mlp.gate_proj.weight", i, d);
            weight(s, pre + "mlp.up_proj.weight", i, d);
            weight(s, pre + "mlp.down_proj.weight", d, i);
        }
        norm(s, "model.norm.weight", d);
        weight(s, "lm_head.weight", v, d);

        ObjectNode c = baseConfig(p, "llama", "LlamaForCausalLM");
        c.put("num_attention_heads", (int) heads);
        c.put("num_key_value_heads", (int) heads);
        c.put("head_dim", p.headDim);
        c.put("rope_theta", 10000.0);
        c.put("hidden_act", "silu");
        c.put("max_position_embeddings", 32768);
        return new RandomWeights("llama", p, seed, c, s);
    }

    private static void norm(Map<String, Spec> s, String name, long n) {
        s.put(name, new Spec(new long[] {n}, Init.NORM));
    }

    private static void weight(Map<String, Spec> s, String name, long out, long in) {
        s.put(name, new Spec(new long[] {out, in}, Init.WEIGHT));
    }

    private static ObjectNode baseConfig(Preset p, String modelType, String className) {
        ObjectNode c = JsonNodeFactory.instance.objectNode();
        c.putArray("architectures").add(className);
        c.put("model_type", modelType);
        c.put("vocab_size", p.vocab);
        c.put("hidden_size", p.hidden);
        c.put("num_hidden_layers", p.layers);
        c.put("intermediate_size", p.intermediate());
        c.put("rms_norm_eps", 1e-6);
        c.put("tie_word_embeddings", false);
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        return c;
    }

    /** "hgrn_bit" or "llama", as config.json's model_type. */
    public String architecture() {
        return architecture;
    }

    public Preset preset() {
        return preset;
    }

    public long seed() {
        return seed;
    }

    /** A copy of the config.json this model would have. */
    @Override
    public JsonNode config() {
        return config.deepCopy();
    }

    @Override
    public boolean has(String name) {
        return specs.containsKey(name);
    }

    /** Every tensor name, in checkpoint order (embeddings, layers, head). */
    public Set<String> names() {
        return specs.keySet();
    }

    public long[] shape(String name) {
        return spec(name).shape.clone();
    }

    /** Parameters of all tensors, from the shapes' formulas (not by summing the table). */
    public long parameterCount() {
        long d = preset.hidden;
        long i = preset.intermediate();
        long v = preset.vocab;
        long l = preset.layers;
        if (architecture.equals("hgrn_bit")) {
            // embeddings + head [V, d] each; lower bounds [L, d]; model.norm and lm_head.norm [d];
            // per layer: i, f, g, o [d, d]; gate [2I, d]; down [d, I]; 8 norms of d and down's norm of I
            return 2 * v * d + l * d + 2 * d + l * (4 * d * d + 3 * d * i + 8 * d + i);
        }
        long attn = d / preset.headDim * preset.headDim;
        // embeddings + head; model.norm; per layer: q, k, v, o; gate, up, down; two norms
        return 2 * v * d + d + l * (4 * attn * d + 3 * d * i + 2 * d);
    }

    @Override
    public float[] floats(String name, long... shape) {
        Spec s = spec(name);
        if (!Arrays.equals(s.shape, shape)) {
            throw new CheckpointException(describe() + ": tensor '" + name + "': shape " + Arrays.toString(s.shape) + ", expected "
                    + Arrays.toString(shape));
        }
        long n = 1;
        for (long x : s.shape) {
            n *= x;
        }
        if (n > SafeTensorsFile.MAX_ARRAY) {
            throw new CheckpointException(describe() + ": tensor '" + name + "': " + n + " elements, more than one Java array holds");
        }
        float[] out = new float[(int) n];
        switch (s.init) {
            case NORM -> fill(out, name, 1f, NORM_NOISE);
            case BOUNDS -> fill(out, name, 0f, BOUNDS_NOISE);
            case WEIGHT -> fill(out, name, 0f, WEIGHT_BOUND);
        }
        return out;
    }

    /** out[k] = center + uniform(-bound, bound), two values per 64 random bits. */
    private void fill(float[] out, String name, float center, float bound) {
        SplittableRandom r = new SplittableRandom(streamSeed(seed, name));
        float scale = bound * 0x1p-31f;
        int k = 0;
        for (; k + 1 < out.length; k += 2) {
            long bits = r.nextLong();
            out[k] = center + scale * (int) bits;
            out[k + 1] = center + scale * (int) (bits >>> 32);
        }
        if (k < out.length) {
            out[k] = center + scale * r.nextInt();
        }
    }

    /** A 64-bit FNV-1a hash of the name, mixed with the seed through two rounds of a 64-bit finalizer. */
    static long streamSeed(long seed, String name) {
        long h = 0xcbf29ce484222325L;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        return mix(mix(seed) + h);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private Spec spec(String name) {
        Spec s = specs.get(name);
        if (s == null) {
            throw new CheckpointException(describe() + ": tensor '" + name + "': not found");
        }
        return s;
    }

    @Override
    public String describe() {
        return "random " + architecture + " " + preset + " weights (seed " + seed + ")";
    }

    @Override
    public void close() {
    }
}
