package dev.mmfree.kernels.gemv;

import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link DenseShape}: the GEMV override of {@value DenseShape#GEMV_ENV} and the checks of a shape. */
class DenseShapeTest {
    private static final DenseShape GPU = new DenseShape(256, 8, 64, 64, 32, 4, 4, true);

    @Test
    void gemvOverrideKeepsTheGemmTiles() {
        DenseShape s = GPU.withGemv("512/16");
        assertEquals(512, s.gemvWg());
        assertEquals(16, s.lpr());
        assertEquals(32, s.gemvRowsPerGroup());
        assertEquals(new DenseShape(512, 16, 64, 64, 32, 4, 4, true), s);
    }

    @Test
    void malformedOrInvalidOverridesAreNamed() {
        for (String bad : new String[]{"256", "256/x", "a/8", "256/8/2"}) {
            MmfreeException e = assertThrows(MmfreeException.class, () -> GPU.withGemv(bad), bad);
            assertTrue(e.getMessage().contains(DenseShape.GEMV_ENV) && e.getMessage().contains(bad), e.getMessage());
        }
        // well-formed, but lanes past a warp or one row per group
        assertThrows(MmfreeException.class, () -> GPU.withGemv("256/64"));
        assertThrows(MmfreeException.class, () -> GPU.withGemv("32/32"));
        assertThrows(MmfreeException.class, () -> GPU.withGemv("48/8"));
    }
}
