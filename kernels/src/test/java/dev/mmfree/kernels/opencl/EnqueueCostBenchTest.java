package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The enqueue-cost harness: its kernels compute what they claim, and a short run yields every variant. */
class EnqueueCostBenchTest extends ClDeviceTest {
    @Test
    void kernelsReadEveryArgument() {
        for (EnqueueCostBench.Extra extra : EnqueueCostBench.Extra.values()) {
            try (DeviceProgram p = device.build("enqueue cost test " + extra, EnqueueCostBench.source(5, extra), "");
                 var k = p.kernel("enqueue_cost");
                 DeviceBuffer a0 = device.allocate(MemoryCategory.WORKSPACE, 64, "a0")) {
                device.write(a0, 0, new int[]{10}, 0, 1);
                k.arg(0, a0);
                List<DeviceBuffer> others = new ArrayList<>();
                try {
                    for (int i = 1; i < 5; i++) {
                        if (extra == EnqueueCostBench.Extra.INTS) {
                            k.arg(i, 100 * i);
                        } else if (extra == EnqueueCostBench.Extra.LOCALS) {
                            k.argLocal(i, 64);
                        } else {
                            DeviceBuffer b = device.allocate(MemoryCategory.WORKSPACE, 64, "a" + i);
                            others.add(b);
                            device.write(b, 0, new int[]{100 * i}, 0, 1);
                            k.arg(i, b);
                        }
                    }
                    device.launch(k, new long[]{32}, new long[]{32});
                    int[] got = new int[1];
                    device.read(a0, 0, got, 0, 1);
                    int rest = extra == EnqueueCostBench.Extra.LOCALS ? 1 + 2 + 3 + 4 : 100 + 200 + 300 + 400;
                    assertEquals(10 + rest + 1, got[0], extra.toString());
                } finally {
                    others.forEach(DeviceBuffer::close);
                }
            }
        }
    }

    @Test
    void shortRunTimesEveryVariant() {
        long before = device.memory().totalBytes();
        List<EnqueueCostBench.Result> results = EnqueueCostBench.run(device, 0, new int[]{1, 3}, 16);
        assertEquals(2 * 6, results.size());
        for (EnqueueCostBench.Result r : results) {
            assertTrue(r.p10Us() > 0 && r.p10Us() <= r.medianUs() && r.medianUs() <= r.p90Us(), r.toString());
        }
        assertEquals(before, device.memory().totalBytes(), "the run released what it allocated");
    }
}
