package dev.mmfree.kernels.attention;

import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link AttentionOpenCl.Shape#parse}, the text of {@value AttentionOpenCl#ENV}: no device needed. */
class AttentionShapeTest {
    @Test
    void parsesWorkGroupBlockAndMinShare() {
        assertEquals(new AttentionOpenCl.Shape(256, 128, 64), AttentionOpenCl.Shape.parse("256/128/64"));
    }

    @Test
    void malformedTextNamesTheVariable() {
        for (String bad : new String[]{"128/256", "128/256/64/1", "a/b/c", "", "128//64"}) {
            MmfreeException e = assertThrows(MmfreeException.class, () -> AttentionOpenCl.Shape.parse(bad), bad);
            assertTrue(e.getMessage().contains(AttentionOpenCl.ENV), e.getMessage());
        }
    }

    @Test
    void impossibleShapesNameTheirFields() {
        // not a power of two; over 1024; a block of one position; no positions a split
        for (String bad : new String[]{"100/256/64", "2048/256/64", "128/1/64", "128/256/0"}) {
            MmfreeException e = assertThrows(MmfreeException.class, () -> AttentionOpenCl.Shape.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("attention shape"), e.getMessage());
        }
    }
}
