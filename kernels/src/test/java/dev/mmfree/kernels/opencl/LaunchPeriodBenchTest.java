package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The launch-period harness: its kernels count their launches, and a short run yields every variant and releases its memory. */
class LaunchPeriodBenchTest extends ClDeviceTest {
    @Test
    void kernelsCountEachLaunchOnAnyGrid() {
        try (DeviceProgram p = device.build("launch period test", LaunchPeriodBench.SOURCE, "-DLOCAL_INTS=" + LaunchPeriodBench.LOCAL_INTS);
             DeviceKernel empty = p.kernel("lp_empty");
             DeviceKernel local = p.kernel("lp_local");
             DeviceBuffer count = device.allocate(MemoryCategory.WORKSPACE, 64, "count")) {
            device.fill(count, 0);
            empty.arg(0, count);
            local.arg(0, count);
            device.launch(empty, new long[]{3 * 64}, new long[]{64});
            device.launch(local, new long[]{2 * 128}, new long[]{128});
            device.launch(empty, new long[]{32}, new long[]{32});
            int[] got = new int[1];
            device.read(count, 0, got, 0, 1);
            assertEquals(3, got[0]);
        }
    }

    @Test
    void shortRunTimesEveryVariant() {
        long before = device.memory().totalBytes();
        List<LaunchPeriodBench.Result> results = LaunchPeriodBench.run(device, 8, 2);
        assertEquals(8, results.size());
        for (LaunchPeriodBench.Result r : results) {
            assertTrue(r.periodUs() > 0 && r.p10Us() <= r.periodUs() && r.periodUs() <= r.p90Us(), r.toString());
            assertEquals(16, r.count(), r.toString());
        }
        assertEquals(before, device.memory().totalBytes(), "the run released what it allocated");
        assertThrows(IllegalArgumentException.class, () -> LaunchPeriodBench.run(device, 1, 2));
    }
}
