package dev.mmfree.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The Llama (Transformer++) fields of a config.json ({@code ../shared/spec/transformerpp.md}), validated.
 *
 * <p>The rotary base is read from {@code rope_theta} (older files) or {@code rope_parameters.rope_theta}
 * (newer files); rope scaling other than the default type is refused, as are biases and activations
 * other than SiLU.
 *
 * @param heads     H, {@code num_attention_heads}
 * @param kvHeads   KV, {@code num_key_value_heads}; H % KV == 0 (grouped-query attention)
 * @param headDim   hd, {@code head_dim} (default d / H), even
 * @param eosTokenId {@code eos_token_id}; when the file lists several, the first
 */
public record LlamaConfig(int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim,
                          double ropeTheta, double rmsNormEps, boolean tieWordEmbeddings, int bosTokenId, int eosTokenId) {
    public static final String MODEL_TYPE = "llama";

    public LlamaConfig {
        requirePositive("vocab_size", vocab);
        requirePositive("hidden_size", hidden);
        requirePositive("intermediate_size", intermediate);
        requirePositive("num_hidden_layers", layers);
        requirePositive("num_attention_heads", heads);
        requirePositive("num_key_value_heads", kvHeads);
        requirePositive("head_dim", headDim);
        if (heads % kvHeads != 0) {
            throw new ConfigException("llama config: field 'num_attention_heads' (" + heads
                    + ") must be a multiple of 'num_key_value_heads' (" + kvHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new ConfigException("llama config: field 'head_dim' must be even for rotary embeddings, got " + headDim);
        }
        if (!(ropeTheta > 0) || !Double.isFinite(ropeTheta)) {
            throw new ConfigException("llama config: field 'rope_theta' must be finite and > 0, got " + ropeTheta);
        }
        if (!(rmsNormEps > 0) || !Double.isFinite(rmsNormEps)) {
            throw new ConfigException("llama config: field 'rms_norm_eps' must be finite and > 0, got " + rmsNormEps);
        }
    }

    private static void requirePositive(String field, int v) {
        if (v <= 0) {
            throw new ConfigException("llama config: field '" + field + "' must be > 0, got " + v);
        }
    }

    /** Query heads that share one key/value head. */
    public int groupSize() {
        return heads / kvHeads;
    }

    /**
     * Reads and validates a parsed config.json.
     *
     * @param where the file or source, for messages
     */
    public static LlamaConfig fromJson(JsonNode config, String where) {
        ConfigFields f = new ConfigFields(config, where);
        f.requireText("model_type", MODEL_TYPE);
        String act = f.text("hidden_act", "silu");
        if (!act.equals("silu") && !act.equals("swish")) {
            throw f.fail("hidden_act", "is \"" + act + "\", expected \"silu\"");
        }
        for (String bias : new String[]{"attention_bias", "mlp_bias"}) {
            if (f.bool(bias, false)) {
                throw f.fail(bias, "is true; the Transformer++ baseline has no biases");
            }
        }
        int d = f.positive("hidden_size", 4096);
        int heads = f.positive("num_attention_heads", 32);
        int kvHeads = f.positive("num_key_value_heads", heads);
        if (!f.present("head_dim") && d % heads != 0) {
            throw f.fail("head_dim", "is missing and hidden_size " + d + " is not a multiple of num_attention_heads " + heads);
        }
        int headDim = f.positive("head_dim", d / Math.max(heads, 1));
        int vocab = f.positive("vocab_size", 32000);
        int intermediate = f.positive("intermediate_size", 11008);
        int layers = f.positive("num_hidden_layers", 32);
        double theta = ropeTheta(f);
        double eps = f.number("rms_norm_eps", 1e-6);
        boolean tied = f.bool("tie_word_embeddings", false);
        int bos = f.tokenId("bos_token_id", 1);
        int eos = f.tokenId("eos_token_id", 2);
        try {
            return new LlamaConfig(vocab, d, intermediate, layers, heads, kvHeads, headDim, theta, eps, tied, bos, eos);
        } catch (ConfigException e) {
            throw new ConfigException(where + ": " + e.getMessage());
        }
    }

    /** The rotary base from either place it is stored; scaled rope variants are refused. */
    private static double ropeTheta(ConfigFields f) {
        checkRopeType(f, f.raw("rope_scaling"), "rope_scaling");
        double theta = f.number("rope_theta", 10000);
        JsonNode params = f.raw("rope_parameters");
        if (params != null && !params.isNull()) {
            if (!params.isObject()) {
                throw f.fail("rope_parameters", "must be an object, got " + params);
            }
            checkRopeType(f, params, "rope_parameters");
            JsonNode t = params.get("rope_theta");
            if (t != null && !t.isNull()) {
                if (!t.isNumber()) {
                    throw f.fail("rope_parameters.rope_theta", "must be a number, got " + t);
                }
                theta = t.doubleValue();
            }
        }
        if (!(theta > 0) || !Double.isFinite(theta)) {
            throw f.fail("rope_theta", "must be finite and > 0, got " + theta);
        }
        return theta;
    }

    private static void checkRopeType(ConfigFields f, JsonNode rope, String field) {
        if (rope == null || rope.isNull()) {
            return;
        }
        if (!rope.isObject()) {
            throw f.fail(field, "must be an object or null, got " + rope);
        }
        for (String key : new String[]{"rope_type", "type"}) {
            JsonNode type = rope.get(key);
            if (type != null && !type.isNull() && !type.asText().equals("default")) {
                throw f.fail(field + "." + key, "is \"" + type.asText() + "\"; only the default rotary embedding is supported");
            }
        }
    }

    /** This config as a Hugging Face config.json object (for random-weight presets). */
    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.putArray("architectures").add("LlamaForCausalLM");
        o.put("model_type", MODEL_TYPE);
        o.put("vocab_size", vocab);
        o.put("hidden_size", hidden);
        o.put("intermediate_size", intermediate);
        o.put("num_hidden_layers", layers);
        o.put("num_attention_heads", heads);
        o.put("num_key_value_heads", kvHeads);
        o.put("head_dim", headDim);
        o.put("hidden_act", "silu");
        o.put("attention_bias", false);
        o.put("mlp_bias", false);
        o.put("rope_theta", ropeTheta);
        o.put("rms_norm_eps", rmsNormEps);
        o.put("tie_word_embeddings", tieWordEmbeddings);
        o.put("bos_token_id", bosTokenId);
        o.put("eos_token_id", eosTokenId);
        return o;
    }
}
