package dev.mmfree.model;

import dev.mmfree.model.config.ConfigException;
import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.model.config.LlamaConfig;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelLoaderTest {
    static final HgrnBitConfig HGRN = new HgrnBitConfig(37, 21, 2, 19, 1e-6, true, false, 1, 2);
    static final LlamaConfig LLAMA = new LlamaConfig(41, 18, 23, 2, 6, 2, 4, 10000, 1e-6, false, 1, 2);

    @Test
    void unknownModelTypeNamesTheFieldAndValueAndClosesTheSource() {
        MemoryTensorSource src = MemoryTensorSource.hgrn(HGRN, 1);
        src.config().put("model_type", "gpt2");
        ConfigException e = assertThrows(ConfigException.class, () -> ModelLoader.load(src, "reference"));
        assertTrue(e.getMessage().contains("'model_type'") && e.getMessage().contains("gpt2"), e.getMessage());
        assertTrue(src.closed());
    }

    @Test
    void unknownBackendListsTheKnownOnesAndClosesTheSource() {
        MemoryTensorSource src = MemoryTensorSource.hgrn(HGRN, 1);
        MmfreeException e = assertThrows(MmfreeException.class, () -> ModelLoader.load(src, "nope"));
        assertTrue(e.getMessage().contains("'nope'") && e.getMessage().contains("reference"), e.getMessage());
        assertTrue(src.closed());
    }

    @Test
    void autoPicksAnAvailableBackend() {
        ModelBackend b = Backends.auto();
        assertTrue(b.unavailableReason().isEmpty(), b.name());
        assertEquals(b, Backends.resolve("auto"));
        assertEquals("reference", Backends.byName("reference").name());
    }

    @Test
    void loadClosesTheSourceAndReportsMemory() {
        MemoryTensorSource src = MemoryTensorSource.hgrn(HGRN, 2);
        CausalLm m = ModelLoader.load(src, "reference");
        assertTrue(src.closed(), "source closed once the weights are built");
        assertEquals("hgrn_bit", m.info().architecture());
        assertEquals(src.elementCount(), m.info().parameters());
        assertEquals(m.info().weightBytes(), m.memory().bytes(MemoryCategory.WEIGHTS));
        CausalLm.Batch b = m.newBatch(3);
        assertEquals(3L * HGRN.layers() * HGRN.hidden() * 4, m.memory().bytes(MemoryCategory.STATE));
        b.close();
        m.close();
        assertEquals(0, m.memory().totalBytes());
    }

    /** Sequences of a batch do not see each other: each equals the same sequence run alone, bit for bit. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hgrn_bit", "llama"})
    void batchedSequencesAreIndependent(String type) {
        Random rnd = new Random(type.hashCode());
        int vocab = type.equals("llama") ? LLAMA.vocab() : HGRN.vocab();
        int[][] tokens = new int[3][9];
        for (int[] row : tokens) {
            for (int p = 0; p < row.length; p++) {
                row[p] = rnd.nextInt(vocab);
            }
        }
        float[][][] together = run(type, tokens);
        for (int s = 0; s < tokens.length; s++) {
            float[][][] alone = run(type, new int[][]{tokens[s]});
            for (int p = 0; p < tokens[s].length; p++) {
                assertArrayEquals(alone[0][p], together[s][p], 0f, "sequence " + s + ", position " + p);
            }
        }
    }

    private static float[][][] run(String type, int[][] tokens) {
        MemoryTensorSource src = type.equals("llama") ? MemoryTensorSource.llama(LLAMA, 3) : MemoryTensorSource.hgrn(HGRN, 3);
        try (CausalLm m = ModelLoader.load(src, "reference"); CausalLm.Batch b = m.newBatch(tokens.length)) {
            return m.forward(b, tokens, true);
        }
    }

    @Test
    void forwardRejectsBadTokenBlocks() {
        try (CausalLm m = ModelLoader.load(MemoryTensorSource.llama(LLAMA, 4), "reference"); CausalLm.Batch b = m.newBatch(2)) {
            MmfreeException range = assertThrows(MmfreeException.class, () -> m.forward(b, new int[][]{{1}, {41}}, true));
            assertTrue(range.getMessage().contains("41"), range.getMessage());
            assertThrows(MmfreeException.class, () -> m.forward(b, new int[][]{{1, 2}, {3}}, true));
            assertThrows(MmfreeException.class, () -> m.forward(b, new int[][]{{1}}, true));
            assertEquals(0, b.position(), "a rejected call does not advance");
            assertEquals(1, m.forward(b, new int[][]{{1, 2}, {3, 4}}, false)[0].length);
            assertEquals(2, b.position());
            float[] last = m.forward(b, new int[][]{{5}, {6}}, true)[1][0];
            for (float v : last) {
                assertTrue(Float.isFinite(v), "logits " + Arrays.toString(last));
            }
        }
    }
}
