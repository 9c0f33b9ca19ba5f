package dev.mmfree.model.config;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HgrnBitConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String WHERE = "/models/x/config.json";

    static ObjectNode parse(String json) {
        try {
            return (ObjectNode) JSON.readTree(json);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void readsTheFixtureConfigWithTheSpecFormulaForI() {
        HgrnBitConfig c = HgrnBitConfig.fromJson(parse("""
                {"model_type": "hgrn_bit", "vocab_size": 512, "hidden_size": 64, "num_hidden_layers": 2,
                 "num_heads": 1, "expand_ratio": 1, "hidden_ratio": 4, "intermediate_size": null,
                 "rms_norm_eps": 1e-06, "use_lower_bound": true, "use_short_conv": false,
                 "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "swish"}"""), WHERE);
        assertEquals(new HgrnBitConfig(512, 64, 2, 256, 1e-6, true, false, 1, 2), c);
    }

    @Test
    void defaultsAreTheSpecs() {
        HgrnBitConfig c = HgrnBitConfig.fromJson(parse("{\"model_type\": \"hgrn_bit\"}"), WHERE);
        assertEquals(new HgrnBitConfig(32000, 2048, 24, 5632, 1e-6, true, false, 1, 2), c);
    }

    @ParameterizedTest(name = "d {0} -> I {1}")
    @CsvSource({"1024, 2816", "2048, 5632", "2560, 6912", "64, 256"})
    void intermediateFormulaGivesTheReleasedSizes(int d, int expected) {
        assertEquals(expected, HgrnBitConfig.defaultIntermediate(d, 4));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "num_heads          | \"num_heads\": 2",
            "expand_ratio       | \"expand_ratio\": 2",
            "use_short_conv     | \"use_short_conv\": true",
            "hidden_size        | \"hidden_size\": 0",
            "hidden_size        | \"hidden_size\": \"big\"",
            "vocab_size         | \"vocab_size\": -3",
            "num_hidden_layers  | \"num_hidden_layers\": 0",
            "intermediate_size  | \"intermediate_size\": 0",
            "rms_norm_eps       | \"rms_norm_eps\": 0",
            "use_lower_bound    | \"use_lower_bound\": \"yes\"",
            "hidden_act         | \"hidden_act\": \"gelu\"",
            "model_type         | \"model_type\": \"llama\""})
    void rejectionsNameTheFieldAndTheFile(String field, String entry) {
        ObjectNode json = parse("{\"model_type\": \"hgrn_bit\", " + entry + "}");
        ConfigException e = assertThrows(ConfigException.class, () -> HgrnBitConfig.fromJson(json, WHERE));
        assertTrue(e.getMessage().contains("'" + field + "'") && e.getMessage().contains(WHERE), e.getMessage());
    }

    @Test
    void missingModelTypeIsRejected() {
        ConfigException e = assertThrows(ConfigException.class, () -> HgrnBitConfig.fromJson(parse("{}"), WHERE));
        assertTrue(e.getMessage().contains("'model_type'"), e.getMessage());
    }

    @Test
    void toJsonRoundTrips() {
        HgrnBitConfig c = new HgrnBitConfig(100, 48, 3, 96, 1e-5, false, true, 0, 7);
        assertEquals(c, HgrnBitConfig.fromJson(c.toJson(), "toJson"));
    }
}
