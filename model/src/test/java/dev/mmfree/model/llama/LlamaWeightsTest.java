package dev.mmfree.model.llama;

import dev.mmfree.model.CausalLm;
import dev.mmfree.model.MemoryTensorSource;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.model.config.LlamaConfig;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LlamaWeightsTest {
    static final LlamaConfig TINY = new LlamaConfig(41, 18, 23, 2, 6, 2, 4, 10000, 1e-6, false, 1, 2);

    @Test
    void tiedHeadIsTheEmbeddingAndComputesLikeAnExplicitCopy() {
        LlamaConfig tied = new LlamaConfig(41, 18, 23, 2, 6, 2, 4, 10000, 1e-6, true, 1, 2);
        MemoryTensorSource src = MemoryTensorSource.llama(tied, 1);
        LlamaWeights w = LlamaWeights.load(src);
        assertSame(w.embedTokens(), w.lmHead());
        assertEquals(src.elementCount(), w.parameterCount());
        assertEquals(4 * src.elementCount(), w.packedBytes());

        MemoryTensorSource untied = src.withConfig(TINY.toJson())
                .put("lm_head.weight", src.get("model.embed_tokens.weight").clone(), tied.vocab(), tied.hidden());
        int[][] tokens = {{3, 40, 0, 9}, {9, 9, 1, 2}};
        assertEquals(logits(src, tokens), logits(untied, tokens));
    }

    private static String logits(MemoryTensorSource src, int[][] tokens) {
        try (CausalLm m = ModelLoader.load(src, "reference"); CausalLm.Batch b = m.newBatch(tokens.length)) {
            return Arrays.deepToString(m.forward(b, tokens, true));
        }
    }

    @Test
    void missingOrMisshapenTensorsFailNamingTheTensor() {
        String k = "model.layers.1.self_attn.k_proj.weight";
        CheckpointException missing = assertThrows(CheckpointException.class,
                () -> LlamaWeights.load(MemoryTensorSource.llama(TINY, 2).remove(k)));
        assertTrue(missing.getMessage().contains(k), missing.getMessage());
        CheckpointException head = assertThrows(CheckpointException.class,
                () -> LlamaWeights.load(MemoryTensorSource.llama(TINY, 2).remove("lm_head.weight")));
        assertTrue(head.getMessage().contains("lm_head.weight"), head.getMessage());
        MemoryTensorSource src = MemoryTensorSource.llama(TINY, 2);
        src.put(k, src.get(k), TINY.hidden(), 8);
        CheckpointException shape = assertThrows(CheckpointException.class, () -> LlamaWeights.load(src));
        assertTrue(shape.getMessage().contains(k), shape.getMessage());
    }

    @Test
    void countsParameters() {
        MemoryTensorSource src = MemoryTensorSource.llama(TINY, 3);
        LlamaWeights w = LlamaWeights.load(src);
        assertEquals(src.elementCount(), w.parameterCount());
        assertEquals(2 * src.elementCount(), w.unpackedBytes());
    }
}
