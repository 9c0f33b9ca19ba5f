package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The barrier of {@code opencl/grid.cl} built by {@link GridBarriers#source}: a work-group that arrives late,
 * after {@value #ROUNDS} rounds of a dependent multiply-add (about 0.3 s under PoCL, four to eight times what the
 * GPU's poll count lasts there), is waited for, and what it wrote before the barrier is what the other reads after it.
 */
class GridBarriersTest {
    private static final int ROUNDS = 1 << 28;
    private static final String KERNEL = """
            // group 1 computes a value before the barrier; group 0 waits at the barrier, then copies it
            __kernel void late_arrival(volatile __global int* sync, volatile __global int* error,
                                       volatile __global uint* out, uint rounds) {
                if (get_group_id(0) == 1 && get_local_id(0) == 0) {
                    uint v = 1u;
                    for (uint k = 0; k < rounds; k++) {
                        v = v * 1664525u + 1013904223u;
                    }
                    out[1] = v;
                }
                grid_sync(sync, error);
                if (get_group_id(0) == 0 && get_local_id(0) == 0) {
                    out[0] = out[1];
                }
            }
            """;

    @Test
    void aLateWorkGroupIsWaitedFor() {
        try (Device device = ClTesting.openOrSkip()) {
            assumeTrue(device.info().computeUnits() >= 2, "two work-groups at once need two compute units");
            long before = device.memory().totalBytes();
            int expected = 1;
            for (int k = 0; k < ROUNDS; k++) {
                expected = expected * 1664525 + 1013904223;
            }
            try (GridBarriers barriers = new GridBarriers(device, "late_arrival", "none");
                 DeviceBuffer out = ClTesting.poisoned(device, 8, "out");
                 DeviceProgram program = device.build("grid barrier test",
                         GridBarriers.source(device.info()) + KERNEL, "-cl-std=CL1.2")) {
                for (int launch = 0; launch < 2; launch++) {
                    try (DeviceKernel k = program.kernel("late_arrival")
                            .args(barriers.sync(2), barriers.error(), out, ROUNDS)) {
                        device.launch(k, new long[]{2 * 32}, new long[]{32});
                    }
                    barriers.check();
                    int[] got = new int[2];
                    device.read(out, got);
                    assertEquals(expected, got[1], "launch " + launch + ": the late group's value");
                    assertEquals(expected, got[0], "launch " + launch + ": group 0's copy of it after the barrier");
                    device.fill(out, ClTesting.POISON);
                }
            }
            assertEquals(before, device.memory().totalBytes(), "barrier state freed on close");
        }
    }
}
