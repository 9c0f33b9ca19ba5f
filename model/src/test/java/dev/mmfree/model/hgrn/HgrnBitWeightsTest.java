package dev.mmfree.model.hgrn;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.MemoryTensorSource;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.model.config.HgrnBitConfig;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HgrnBitWeightsTest {
    /** Odd sizes on purpose: d not a multiple of 16, I not of d. */
    static final HgrnBitConfig TINY = new HgrnBitConfig(37, 21, 3, 19, 1e-6, true, false, 1, 2);

    @Test
    void lowerBoundsAreCumulativeSoftmaxMinusTheFirst() {
        float ln2 = (float) Math.log(2);
        float ln3 = (float) Math.log(3);
        // channel 0: softmax [1/6, 2/6, 3/6], cumsum [1/6, 1/2, 1]; channel 1: equal logits, large
        float[] raw = {0f, 1000f, ln2, 1000f, ln3, 1000f};
        float[][] lb = HgrnBitWeights.lowerBounds(raw, 3, 2);
        assertArrayEquals(new float[]{0f, 0f}, lb[0], 0f);
        assertArrayEquals(new float[]{1f / 3, 1f / 3}, lb[1], 1e-6f);
        assertArrayEquals(new float[]{5f / 6, 2f / 3}, lb[2], 1e-6f);
    }

    @Test
    void loadsLowerBoundsFromTheParameter() {
        MemoryTensorSource src = MemoryTensorSource.hgrn(TINY, 1);
        HgrnBitWeights w = HgrnBitWeights.load(src);
        float[][] expected = HgrnBitWeights.lowerBounds(src.get("model.lower_bounds"), TINY.layers(), TINY.hidden());
        for (int l = 0; l < TINY.layers(); l++) {
            assertArrayEquals(expected[l], w.lowerBounds()[l], 0f, "layer " + l);
        }
    }

    @Test
    void withoutLowerBoundTheFloorIsZeroAndTheTensorNotNeeded() {
        HgrnBitConfig c = new HgrnBitConfig(37, 21, 3, 19, 1e-6, false, false, 1, 2);
        HgrnBitWeights w = HgrnBitWeights.load(MemoryTensorSource.hgrn(c, 2));
        for (float[] row : w.lowerBounds()) {
            assertArrayEquals(new float[c.hidden()], row, 0f);
        }
        assertEquals(MemoryTensorSource.hgrn(c, 2).elementCount(), w.parameterCount());
    }

    @Test
    void tiedHeadIsTheTernarizedEmbeddingAndComputesLikeAnExplicitCopy() {
        HgrnBitConfig tied = new HgrnBitConfig(37, 21, 3, 19, 1e-6, true, true, 1, 2);
        MemoryTensorSource src = MemoryTensorSource.hgrn(tied, 3);
        HgrnBitWeights w = HgrnBitWeights.load(src);
        TernaryMatrix e = TernaryMatrix.ternarize(src.get("model.embeddings.weight"), tied.vocab(), tied.hidden());
        assertArrayEquals(e.codes(), w.lmHead().codes());
        assertEquals(e.scale(), w.lmHead().scale());
        assertEquals(src.elementCount(), w.parameterCount());

        MemoryTensorSource untied = src.withConfig(TINY.toJson())
                .put("lm_head.weight", src.get("model.embeddings.weight").clone(), tied.vocab(), tied.hidden());
        int[][] tokens = {{5, 0, 36, 7, 7}, {1, 2, 3, 4, 5}};
        assertEquals(logits(src, tokens), logits(untied, tokens));
    }

    private static String logits(MemoryTensorSource src, int[][] tokens) {
        try (CausalLm m = ModelLoader.load(src, "reference"); CausalLm.Batch b = m.newBatch(tokens.length)) {
            return java.util.Arrays.deepToString(m.forward(b, tokens, true));
        }
    }

    @Test
    void untiedWithoutHeadFailsNamingTheTensor() {
        MemoryTensorSource src = MemoryTensorSource.hgrn(TINY, 4).remove("lm_head.weight");
        CheckpointException e = assertThrows(CheckpointException.class, () -> HgrnBitWeights.load(src));
        assertTrue(e.getMessage().contains("'lm_head.weight'"), e.getMessage());
    }

    @Test
    void missingOrMisshapenTensorsFailTheLoadNamingTheTensor() {
        String gNorm = "model.layers.2.attn.g_norm.weight";
        CheckpointException missing = assertThrows(CheckpointException.class,
                () -> ModelLoader.load(MemoryTensorSource.hgrn(TINY, 5).remove(gNorm), "reference"));
        assertTrue(missing.getMessage().contains(gNorm), missing.getMessage());

        String down = "model.layers.1.mlp.down_proj.weight";
        MemoryTensorSource src = MemoryTensorSource.hgrn(TINY, 5);
        src.put(down, src.get(down), TINY.intermediate(), TINY.hidden());
        CheckpointException shape = assertThrows(CheckpointException.class, () -> ModelLoader.load(src, "reference"));
        assertTrue(shape.getMessage().contains(down) && shape.getMessage().contains("[21, 19]"), shape.getMessage());
        assertTrue(src.closed(), "a failed load closes its source");
    }

    @Test
    void countsParametersAndBytes() {
        MemoryTensorSource src = MemoryTensorSource.hgrn(TINY, 6);
        HgrnBitWeights w = HgrnBitWeights.load(src);
        assertEquals(src.elementCount(), w.parameterCount());
        assertEquals(2 * src.elementCount(), w.unpackedBytes());
        long d = TINY.hidden();
        long n = TINY.intermediate();
        long v = TINY.vocab();
        long floats = v * d + TINY.layers() * d + 2 * d + TINY.layers() * (8 * d + n);
        long wordsD = (d + 15) / 16;
        long packed = 4 * (v * wordsD + 1) + TINY.layers() * 4 * (4 * (d * wordsD + 1) + (2 * n * wordsD + 1) + (d * ((n + 15) / 16) + 1));
        assertEquals(4 * floats + packed, w.packedBytes());
    }
}
