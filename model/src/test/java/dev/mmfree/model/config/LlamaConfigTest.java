package dev.mmfree.model.config;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static dev.mmfree.model.config.HgrnBitConfigTest.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LlamaConfigTest {
    private static final String WHERE = "/models/llama/config.json";
    private static final String BASE = "\"model_type\": \"llama\", \"vocab_size\": 600, \"hidden_size\": 96, \"intermediate_size\": 256, "
            + "\"num_hidden_layers\": 2, \"num_attention_heads\": 4";

    private static LlamaConfig read(String extra) {
        return LlamaConfig.fromJson(parse("{" + BASE + (extra.isEmpty() ? "" : ", " + extra) + "}"), WHERE);
    }

    @Test
    void readsTheFixtureConfigWithRopeParameters() {
        LlamaConfig c = read("\"num_key_value_heads\": 2, \"head_dim\": 24, \"rms_norm_eps\": 1e-06, "
                + "\"rope_parameters\": {\"rope_theta\": 10000.0, \"rope_type\": \"default\"}, \"tie_word_embeddings\": false");
        assertEquals(new LlamaConfig(600, 96, 256, 2, 4, 2, 24, 10000, 1e-6, false, 1, 2), c);
        assertEquals(2, c.groupSize());
    }

    @Test
    void defaultsKvHeadsHeadDimAndTheta() {
        LlamaConfig c = read("");
        assertEquals(4, c.kvHeads());
        assertEquals(24, c.headDim());
        assertEquals(10000, c.ropeTheta());
    }

    @Test
    void readsRopeThetaFromEitherPlace() {
        assertEquals(500000, read("\"rope_theta\": 500000.0").ropeTheta());
        assertEquals(250000, read("\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 250000}").ropeTheta());
        assertEquals(10000, read("\"rope_scaling\": null").ropeTheta());
    }

    @Test
    void eosListTakesTheFirst() {
        assertEquals(128001, read("\"eos_token_id\": [128001, 128009]").eosTokenId());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "rope_scaling.rope_type     | \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}",
            "rope_scaling.type          | \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}",
            "rope_parameters.rope_type  | \"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000}",
            "rope_parameters.rope_theta | \"rope_parameters\": {\"rope_theta\": \"x\"}",
            "rope_theta                 | \"rope_theta\": -1",
            "num_key_value_heads        | \"num_key_value_heads\": 3",
            "head_dim                   | \"head_dim\": 23",
            "hidden_act                 | \"hidden_act\": \"gelu\"",
            "attention_bias             | \"attention_bias\": true",
            "mlp_bias                   | \"mlp_bias\": true",
            "num_key_value_heads        | \"num_key_value_heads\": 0",
            "rms_norm_eps               | \"rms_norm_eps\": 0"})
    void rejectionsNameTheFieldAndTheFile(String field, String entry) {
        ConfigException e = assertThrows(ConfigException.class, () -> read(entry));
        assertTrue(e.getMessage().contains("'" + field + "'") && e.getMessage().contains(WHERE), e.getMessage());
    }

    @Test
    void headDimIsRequiredWhenHeadsDoNotDivideHidden() {
        ObjectNode json = parse("{\"model_type\": \"llama\", \"hidden_size\": 100, \"num_attention_heads\": 3}");
        ConfigException e = assertThrows(ConfigException.class, () -> LlamaConfig.fromJson(json, WHERE));
        assertTrue(e.getMessage().contains("'head_dim'"), e.getMessage());
    }

    @Test
    void toJsonRoundTrips() {
        LlamaConfig c = new LlamaConfig(50, 32, 40, 3, 8, 2, 6, 5e5, 1e-5, true, 0, 3);
        assertEquals(c, LlamaConfig.fromJson(c.toJson(), "toJson"));
    }
}
