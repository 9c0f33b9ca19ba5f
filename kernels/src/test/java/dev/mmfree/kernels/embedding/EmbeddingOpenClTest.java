package dev.mmfree.kernels.embedding;

import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.Test;

import java.util.Random;

/** embedding_gather_f32 copies rows exactly. */
class EmbeddingOpenClTest {
    @Test
    void gathersRows() {
        try (Device device = ClTesting.openOrSkip();
             EmbeddingOpenCl k = new EmbeddingOpenCl(device, ClTesting.tilings(device)[0])) {
            Random r = new Random(51);
            int v = 37;
            int d = 100;
            int[] ids = {36, 0, 5, 5, 17};
            float[] table = ClTesting.gaussian(r, v * d, 1f);
            float[] expected = new float[ids.length * d];
            for (int t = 0; t < ids.length; t++) {
                System.arraycopy(table, ids[t] * d, expected, t * d, d);
            }
            try (DeviceBuffer idB = device.upload(MemoryCategory.WORKSPACE, "ids", ids);
                 DeviceBuffer tB = device.upload(MemoryCategory.WEIGHTS, "embeddings", table);
                 DeviceBuffer x = ClTesting.poisoned(device, 4L * ids.length * d, "x");
                 Launch l = k.gather(idB, tB, x, d, ids.length)) {
                l.enqueue(device);
                float[] got = new float[ids.length * d];
                device.read(x, got);
                ClTesting.assertExact("gather", expected, got);
            }
        }
    }
}
