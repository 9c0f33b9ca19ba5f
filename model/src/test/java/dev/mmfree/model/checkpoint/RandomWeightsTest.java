package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

import static dev.mmfree.model.checkpoint.SafeTensorsFileTest.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Random-weight sources: names and shapes per the specs' tables, configs, determinism, parameter counts. */
class RandomWeightsTest {
    /** hgrnbit.md's tensor table, written out independently of RandomWeights. */
    private static Map<String, long[]> hgrnSpec(long v, long d, long l, long i) {
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("model.embeddings.weight", new long[] {v, d});
        m.put("model.lower_bounds", new long[] {l, d});
        for (int k = 0; k < l; k++) {
            String p = "model.layers." + k + ".";
            m.put(p + "attn_norm.weight", new long[] {d});
            m.put(p + "mlp_norm.weight", new long[] {d});
            for (String x : new String[] {"i", "f", "g"}) {
                m.put(p + "attn." + x + "_proj.weight", new long[] {d, d});
                m.put(p + "attn." + x + "_proj.norm.weight", new long[] {d});
            }
            m.put(p + "attn.g_norm.weight", new long[] {d});
            m.put(p + "attn.o_proj.weight", new long[] {d, d});
            m.put(p + "attn.o_proj.norm.weight", new long[] {d});
            m.put(p + "mlp.gate_proj.weight", new long[] {2 * i, d});
            m.put(p + "mlp.gate_proj.norm.weight", new long[] {d});
            m.put(p + "mlp.down_proj.weight", new long[] {d, i});
            m.put(p + "mlp.down_proj.norm.weight", new long[] {i});
        }
        m.put("model.norm.weight", new long[] {d});
        m.put("lm_head.weight", new long[] {v, d});
        m.put("lm_head.norm.weight", new long[] {d});
        return m;
    }

    /** transformerpp.md's tensors, untied head. */
    private static Map<String, long[]> llamaSpec(long v, long d, long l, long i, long h, long kv, long hd) {
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new long[] {v, d});
        for (int k = 0; k < l; k++) {
            String p = "model.layers." + k + ".";
            m.put(p + "input_layernorm.weight", new long[] {d});
            m.put(p + "self_attn.q_proj.weight", new long[] {h * hd, d});
            m.put(p + "self_attn.k_proj.weight", new long[] {kv * hd, d});
            m.put(p + "self_attn.v_proj.weight", new long[] {kv * hd, d});
            m.put(p + "self_attn.o_proj.weight", new long[] {d, h * hd});
            m.put(p + "post_attention_layernorm.weight", new long[] {d});
            m.put(p + "mlp.gate_proj.weight", new long[] {i, d});
            m.put(p + "mlp.up_proj.weight", new long[] {i, d});
            m.put(p + "mlp.down_proj.weight", new long[] {d, i});
        }
        m.put("model.norm.weight", new long[] {d});
        m.put("lm_head.weight", new long[] {v, d});
        return m;
    }

    private static void assertTensors(Map<String, long[]> want, RandomWeights w) {
        assertEquals(want.keySet(), w.names(), w.describe());
        for (Map.Entry<String, long[]> e : want.entrySet()) {
            assertTrue(w.has(e.getKey()), e.getKey());
            assertArrayEquals(e.getValue(), w.shape(e.getKey()), e.getKey());
        }
    }

    @Test
    void hgrnTensorsPerSpec() {
        assertTensors(hgrnSpec(512, 64, 2, 256), RandomWeights.hgrnBit(RandomWeights.Preset.TINY, 1));
        assertTensors(hgrnSpec(32000, 1024, 24, 2816), RandomWeights.hgrnBit(RandomWeights.Preset.M370, 1));
    }

    @Test
    void llamaTensorsPerSpec() {
        assertTensors(llamaSpec(512, 64, 2, 256, 1, 1, 64), RandomWeights.llama(RandomWeights.Preset.TINY, 1));
        assertTensors(llamaSpec(32000, 1024, 24, 2816, 8, 8, 128), RandomWeights.llama(RandomWeights.Preset.M370, 1));
    }

    @Test
    void intermediateSizesMatchTheSpec() {
        assertEquals(256, RandomWeights.Preset.TINY.intermediate());
        assertEquals(2816, RandomWeights.Preset.M370.intermediate());
        assertEquals(5632, RandomWeights.Preset.B1_3.intermediate());
        assertEquals(6912, RandomWeights.Preset.B2_7.intermediate());
        assertEquals(13824, RandomWeights.Preset.B13.intermediate());
    }

    @Test
    void tinyHgrnMatchesTheReferenceCheckpoint() {
        RandomWeights w = RandomWeights.hgrnBit(RandomWeights.Preset.TINY, 5);
        try (ModelFolder f = ModelFolder.open(Fixtures.root().resolve("hgrn-tiny-a"))) {
            assertEquals(f.names(), new TreeSet<>(w.names()));
            for (String name : f.names()) {
                assertArrayEquals(f.info(name).shape(), w.shape(name), name);
            }
            for (String key : new String[] {"model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_heads",
                    "expand_ratio", "hidden_ratio", "use_short_conv", "use_lower_bound", "rms_norm_eps", "tie_word_embeddings"}) {
                assertEquals(f.config().get(key), w.config().get(key), key);
            }
        }
    }

    @Test
    void tinyLlamaNamesMatchTheReferenceCheckpoint() {
        RandomWeights w = RandomWeights.llama(RandomWeights.Preset.TINY, 5);
        try (ModelFolder f = ModelFolder.open(Fixtures.root().resolve("llama-tiny"))) {
            assertEquals(f.names(), new TreeSet<>(w.names()));
        }
    }

    @Test
    void configs() {
        JsonNode h = RandomWeights.hgrnBit(RandomWeights.Preset.B2_7, 1).config();
        assertEquals("hgrn_bit", h.get("model_type").asText());
        assertEquals(2560, h.get("hidden_size").asInt());
        assertEquals(32, h.get("num_hidden_layers").asInt());
        assertEquals(32000, h.get("vocab_size").asInt());
        assertEquals(6912, h.get("intermediate_size").asInt());
        assertEquals(1, h.get("num_heads").asInt());
        assertEquals(1, h.get("expand_ratio").asInt());
        assertEquals(4, h.get("hidden_ratio").asInt());
        assertFalse(h.get("use_short_conv").asBoolean(true));
        assertTrue(h.get("use_lower_bound").asBoolean(false));
        assertEquals(1e-6, h.get("rms_norm_eps").asDouble());

        JsonNode l = RandomWeights.llama(RandomWeights.Preset.B13, 1).config();
        assertEquals("llama", l.get("model_type").asText());
        assertEquals(5120, l.get("hidden_size").asInt());
        assertEquals(40, l.get("num_hidden_layers").asInt());
        assertEquals(13824, l.get("intermediate_size").asInt());
        assertEquals(40, l.get("num_attention_heads").asInt());
        assertEquals(40, l.get("num_key_value_heads").asInt());
        assertEquals(128, l.get("head_dim").asInt());
        assertEquals(10000.0, l.get("rope_theta").asDouble());
        assertFalse(l.get("tie_word_embeddings").asBoolean(true));
        assertEquals(1, RandomWeights.llama(RandomWeights.Preset.TINY, 1).config().get("num_attention_heads").asInt());

        RandomWeights w = RandomWeights.hgrnBit(RandomWeights.Preset.TINY, 1);
        ((ObjectNode) w.config()).put("hidden_size", 7);
        assertEquals(64, w.config().get("hidden_size").asInt(), "config() hands out copies");
    }

    @ParameterizedTest
    @EnumSource(RandomWeights.Preset.class)
    void parameterCountIsTheSumOfTheShapes(RandomWeights.Preset p) {
        for (RandomWeights w : new RandomWeights[] {RandomWeights.hgrnBit(p, 0), RandomWeights.llama(p, 0)}) {
            long sum = 0;
            for (String name : w.names()) {
                sum += Arrays.stream(w.shape(name)).reduce(1, Math::multiplyExact);
            }
            assertEquals(sum, w.parameterCount(), w.describe());
        }
    }

    @Test
    void parameterCountsOfKnownModels() {
        assertEquals(198_400, RandomWeights.hgrnBit(RandomWeights.Preset.TINY, 0).parameterCount(), "hgrn-tiny-a's element count");
        assertEquals(374_108_160L, RandomWeights.hgrnBit(RandomWeights.Preset.M370, 0).parameterCount());
        assertEquals(2_702_357_504L, RandomWeights.hgrnBit(RandomWeights.Preset.B2_7, 0).parameterCount());
        assertEquals(13_015_864_320L, RandomWeights.llama(RandomWeights.Preset.B13, 0).parameterCount(), "Llama-2-13B's count");
    }

    @Test
    void deterministicPerSeedAndName() {
        RandomWeights a = RandomWeights.hgrnBit(RandomWeights.Preset.TINY, 42);
        RandomWeights b = RandomWeights.hgrnBit(RandomWeights.Preset.TINY, 42);
        RandomWeights other = RandomWeights.hgrnBit(RandomWeights.Preset.TINY, 43);
        String f = "model.layers.1.attn.f_proj.weight";
        String g = "model.layers.1.attn.g_proj.weight";
        float[] bg = b.floats(g, 64, 64);
        float[] af = a.floats(f, 64, 64);
        assertArrayEquals(af, b.floats(f, 64, 64), "same seed and name, read in another order");
        assertArrayEquals(bg, a.floats(g, 64, 64));
        assertFalse(Arrays.equals(af, bg), "different names give different values");
        assertFalse(Arrays.equals(af, other.floats(f, 64, 64)), "different seeds give different values");
        String norm = "model.layers.0.attn_norm.weight";
        assertFalse(Arrays.equals(a.floats(norm, 64), a.floats("model.layers.1.attn_norm.weight", 64)));
        assertArrayEquals(a.floats("model.norm.weight", 64), RandomWeights.llama(RandomWeights.Preset.TINY, 42).floats("model.norm.weight", 64),
                "values depend on (seed, name) only");
    }

    @Test
    void valueRanges() {
        RandomWeights w = RandomWeights.hgrnBit(RandomWeights.Preset.TINY, 9);
        float[] e = w.floats("model.embeddings.weight", 512, 64);
        double sum = 0;
        double sq = 0;
        for (float x : e) {
            assertTrue(Math.abs(x) <= 0.0347f, "embedding value " + x);
            sum += x;
            sq += x * x;
        }
        double mean = sum / e.length;
        double std = Math.sqrt(sq / e.length - mean * mean);
        assertEquals(0.02, std, 0.0005, "embedding std");
        assertEquals(0, mean, 0.0005, "embedding mean");
        for (float x : w.floats("model.layers.0.mlp.down_proj.norm.weight", 256)) {
            assertTrue(x >= 0.95f && x <= 1.05f && x != 1f, "norm weight " + x);
        }
        for (float x : w.floats("model.lower_bounds", 2, 64)) {
            assertTrue(Math.abs(x) <= 0.1f && x != 0f, "lower bound " + x);
        }
    }

    @Test
    void unknownNameOrWrongShape() {
        RandomWeights w = RandomWeights.llama(RandomWeights.Preset.TINY, 3);
        CheckpointException e = assertThrows(CheckpointException.class, () -> w.floats("model.embeddings.weight", 512, 64));
        assertEquals(w.describe() + ": tensor 'model.embeddings.weight': not found", e.getMessage());
        assertMentions(assertThrows(CheckpointException.class, () -> w.shape("model.layers.2.input_layernorm.weight")), "not found");
        e = assertThrows(CheckpointException.class, () -> w.floats("model.layers.0.mlp.down_proj.weight", 256, 64));
        assertEquals(w.describe() + ": tensor 'model.layers.0.mlp.down_proj.weight': shape [64, 256], expected [256, 64]", e.getMessage());
        assertThrows(CheckpointException.class, () -> w.floats("model.norm.weight"));
    }
}
