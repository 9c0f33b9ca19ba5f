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
    void lanesWidenUntilAGroupPerComputeUnitOrAWarp() {
        // on 132 compute units: the 2.7B shapes, then the 1.3B and 370M down_proj
        assertEquals(8, GPU.gemvLanes(13824, 132), "gate|up: 432 groups at 8 lanes");
        assertEquals(8, GPU.gemvLanes(32000, 132), "head");
        assertEquals(8, GPU.gemvLanes(7680, 132), "qkv: 240 groups at 8 lanes");
        assertEquals(16, GPU.gemvLanes(2560, 132), "down: 80 groups at 8 lanes, 160 at 16");
        assertEquals(32, GPU.gemvLanes(2048, 132), "64, 128, 256 groups");
        assertEquals(32, GPU.gemvLanes(1024, 132), "32, 64, 128 groups: as many lanes as a warp has");
        assertEquals(32, GPU.gemvLanes(10, 132), "no more than a warp");
        assertEquals(2, GPU.gemvGroups(16, 32), "8 rows a group at 32 lanes");
        assertEquals(3, GPU.gemvGroups(17, 32), "a last group in part");
        DenseShape cpu = new DenseShape(64, 8, 16, 16, 8, 2, 2, false);
        assertEquals(32, cpu.gemvLanes(3, 2), "two rows a group at most");
        assertEquals(16, cpu.gemvLanes(5, 2), "1 group of 8 rows, 2 of 4");
        assertEquals(8, cpu.gemvLanes(130, 2));
        assertEquals(8, new DenseShape(16, 8, 16, 16, 8, 2, 2, false).gemvLanes(1, 132), "a group keeps two rows");
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
