package dev.mmfree.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The HGRNBit fields of a config.json ({@code ../shared/spec/hgrnbit.md}), validated.
 *
 * <p>Only the released variant is supported: one head, expand ratio 1, no short convolution; other
 * values are refused rather than computed wrong.
 *
 * @param vocab        V, {@code vocab_size}
 * @param hidden       d, {@code hidden_size}
 * @param layers       L, {@code num_hidden_layers}
 * @param intermediate I, {@code intermediate_size} (gate_proj is [2I, d], down_proj [d, I])
 * @param rmsNormEps   eps of the block norms ({@code rms_norm_eps}); BitLinear norms use 1e-6 always
 */
public record HgrnBitConfig(int vocab, int hidden, int layers, int intermediate, double rmsNormEps,
                            boolean useLowerBound, boolean tieWordEmbeddings, int bosTokenId, int eosTokenId) {
    public static final String MODEL_TYPE = "hgrn_bit";

    public HgrnBitConfig {
        requirePositive("vocab_size", vocab);
        requirePositive("hidden_size", hidden);
        requirePositive("num_hidden_layers", layers);
        requirePositive("intermediate_size", intermediate);
        if (!(rmsNormEps > 0) || !Double.isFinite(rmsNormEps)) {
            throw new ConfigException("hgrn_bit config: field 'rms_norm_eps' must be finite and > 0, got " + rmsNormEps);
        }
    }

    private static void requirePositive(String field, int v) {
        if (v <= 0) {
            throw new ConfigException("hgrn_bit config: field '" + field + "' must be > 0, got " + v);
        }
    }

    /** I when {@code intermediate_size} is null: {@code 256 * ceil(int(d * hidden_ratio * 2 / 3) / 256)}. */
    public static int defaultIntermediate(int hidden, double hiddenRatio) {
        long raw = (long) (hidden * hiddenRatio * 2 / 3);
        return Math.toIntExact(256 * ((raw + 255) / 256));
    }

    /**
     * Reads and validates a parsed config.json.
     *
     * @param where the file or source, for messages ("/models/x/config.json")
     */
    public static HgrnBitConfig fromJson(JsonNode config, String where) {
        ConfigFields f = new ConfigFields(config, where);
        f.requireText("model_type", MODEL_TYPE);
        requireValue(f, "num_heads", f.integer("num_heads", 1), 1);
        requireValue(f, "expand_ratio", f.integer("expand_ratio", 1), 1);
        if (f.bool("use_short_conv", false)) {
            throw f.fail("use_short_conv", "is true; only use_short_conv = false (the released models) is supported");
        }
        String act = f.text("hidden_act", "swish");
        if (!act.equals("swish") && !act.equals("silu")) {
            throw f.fail("hidden_act", "is \"" + act + "\", expected \"swish\"");
        }
        int d = f.positive("hidden_size", 2048);
        double hiddenRatio = f.number("hidden_ratio", 4);
        if (!(hiddenRatio > 0)) {
            throw f.fail("hidden_ratio", "must be > 0, got " + hiddenRatio);
        }
        int intermediate = f.present("intermediate_size") ? f.positive("intermediate_size", 0) : defaultIntermediate(d, hiddenRatio);
        double eps = f.number("rms_norm_eps", 1e-6);
        if (!(eps > 0) || !Double.isFinite(eps)) {
            throw f.fail("rms_norm_eps", "must be finite and > 0, got " + eps);
        }
        int vocab = f.positive("vocab_size", 32000);
        int layers = f.positive("num_hidden_layers", 24);
        boolean lowerBound = f.bool("use_lower_bound", true);
        boolean tied = f.bool("tie_word_embeddings", false);
        int bos = f.tokenId("bos_token_id", 1);
        int eos = f.tokenId("eos_token_id", 2);
        return new HgrnBitConfig(vocab, d, layers, intermediate, eps, lowerBound, tied, bos, eos);
    }

    private static void requireValue(ConfigFields f, String field, int actual, int supported) {
        if (actual != supported) {
            throw f.fail(field, "is " + actual + "; only " + supported + " (the released models) is supported");
        }
    }

    /** This config as a Hugging Face config.json object (for random-weight presets). */
    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.putArray("architectures").add("HGRNBitForCausalLM");
        o.put("model_type", MODEL_TYPE);
        o.put("vocab_size", vocab);
        o.put("hidden_size", hidden);
        o.put("num_hidden_layers", layers);
        o.put("intermediate_size", intermediate);
        o.put("num_heads", 1);
        o.put("expand_ratio", 1);
        o.put("hidden_ratio", 4);
        o.put("hidden_act", "swish");
        o.put("attn_mode", "fused_recurrent");
        o.put("use_short_conv", false);
        o.put("use_lower_bound", useLowerBound);
        o.put("rms_norm_eps", rmsNormEps);
        o.put("tie_word_embeddings", tieWordEmbeddings);
        o.put("bos_token_id", bosTokenId);
        o.put("eos_token_id", eosTokenId);
        return o;
    }
}
