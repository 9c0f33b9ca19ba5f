package dev.mmfree.model;

import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The lifecycle the heap-array models share: batch checks, messages, and the ledger back to zero. */
class LedgeredModelTest {
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"hgrn_bit, reference", "hgrn_bit, cpu", "llama, reference", "llama, cpu"})
    void batchesAndCloseKeepTheLedgerAndTheMessages(String type, String backend) {
        String prefix = type + " " + backend + ": ";
        CausalLm m = ModelLoader.load(source(type, 5), backend);
        CausalLm other = ModelLoader.load(source(type, 6), backend);
        assertTrue(m instanceof LedgeredModel, m.getClass().getName());
        assertEquals(m.info().weightBytes(), m.memory().bytes(MemoryCategory.WEIGHTS));
        expect(prefix + "batch size must be >= 1, got 0", () -> m.newBatch(0));

        CausalLm.Batch b = m.newBatch(2);
        int[][] tokens = {{1, 2, 3}, {4, 5, 6}};
        m.forward(b, tokens, false);
        assertEquals(3, b.position());
        assertEquals(2, b.size());
        assertTrue(m.memory().bytes(MemoryCategory.STATE) > 0, "state recorded");
        CausalLm.Batch foreign = other.newBatch(2);
        expect(prefix + "the batch is closed or belongs to another model", () -> m.forward(foreign, tokens, false));
        b.close();
        b.close();
        assertEquals(0, m.memory().bytes(MemoryCategory.STATE));
        expect(prefix + "the batch is closed or belongs to another model", () -> m.forward(b, tokens, false));

        m.newBatch(1);
        m.close();
        m.close();
        expect(prefix + "model is closed", () -> m.newBatch(1));
        expect(prefix + "model is closed", () -> m.forward(b, tokens, false));
        assertEquals(0, m.memory().bytes(MemoryCategory.WEIGHTS));
        assertEquals(0, m.memory().bytes(MemoryCategory.WORKSPACE));
        foreign.close();
        other.close();
        assertEquals(0, other.memory().totalBytes());
    }

    private static MemoryTensorSource source(String type, long seed) {
        return type.equals("llama") ? MemoryTensorSource.llama(ModelLoaderTest.LLAMA, seed)
                : MemoryTensorSource.hgrn(ModelLoaderTest.HGRN, seed);
    }

    private static void expect(String message, Executable call) {
        assertEquals(message, assertThrows(MmfreeException.class, call).getMessage());
    }
}
