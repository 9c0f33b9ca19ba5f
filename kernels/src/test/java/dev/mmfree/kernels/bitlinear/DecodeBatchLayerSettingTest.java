package dev.mmfree.kernels.bitlinear;

import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code MMFREE_OPENCL_BATCH_LAYER}: off unless 1, and 1 only with the tensor-core GEMM; anything else a clear error. */
class DecodeBatchLayerSettingTest {
    private static final DeviceInfo H200 = new DeviceInfo("NVIDIA H200", "NVIDIA Corporation", "580.159.04", true, 132,
            1024, 48 << 10, 140L << 30, 35L << 30, true, 4096);

    @Test
    void offUnlessOne() {
        assertEquals(0, DecodeBatchLayerOpenCl.groups(null, H200, true));
        assertEquals(0, DecodeBatchLayerOpenCl.groups(" ", H200, true));
        assertEquals(0, DecodeBatchLayerOpenCl.groups("0", H200, true));
        assertEquals(132, DecodeBatchLayerOpenCl.groups("1", H200, true));
        assertEquals(132, DecodeBatchLayerOpenCl.groups(" 1 ", H200, true));
    }

    @Test
    void rejectsOtherValuesAndDevicesWithoutTheTensorCoreGemm() {
        for (String bad : new String[]{"2", "-1", "yes", "1.0"}) {
            MmfreeException e = assertThrows(MmfreeException.class, () -> DecodeBatchLayerOpenCl.groups(bad, H200, true), bad);
            assertTrue(e.getMessage().contains(DecodeBatchLayerOpenCl.ENV) && e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
        MmfreeException e = assertThrows(MmfreeException.class, () -> DecodeBatchLayerOpenCl.groups("1", H200, false));
        assertTrue(e.getMessage().contains("tensor-core GEMM") && e.getMessage().contains("NVIDIA H200"), e.getMessage());
    }
}
