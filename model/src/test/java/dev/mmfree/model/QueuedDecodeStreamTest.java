package dev.mmfree.model;

import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.hgrn.OpenClTesting;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.opencl.OpenCl;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The stream's own contract, on a step that only adds one to each id on the device: ids come back one
 * step behind the queue, {@link QueuedDecodeStream#checkStep} sees each step once its copies completed and
 * before its ids are returned, and a step that fails it fails every later call.
 */
class QueuedDecodeStreamTest {
    @BeforeAll
    static void selectDevice() {
        OpenClTesting.selectDefaultDeviceOrSkip();
    }

    /** Step k writes last + k + 1 to the ids (a host write queued in order); checkStep fails at step failAt. */
    private static final class Counting extends QueuedDecodeStream {
        private final Device device;
        private final DeviceBuffer ids;
        private final int[] start;
        private final int failAt;
        private final List<Integer> checked = new ArrayList<>();
        private final long[] stepOfSlot = new long[2];
        private long queued;
        private int undone;

        Counting(Device device, DeviceBuffer ids, int[] last, int failAt) {
            super(device, ids, last, SamplingParams.greedy(), new SplittableRandom(1));
            this.device = device;
            this.ids = ids;
            this.start = last.clone();
            this.failAt = failAt;
        }

        @Override
        protected List<DeviceEvent> enqueueStep(int slot, ByteBuffer uniforms) {
            queued++;
            stepOfSlot[slot] = queued;
            int[] next = new int[start.length];
            for (int q = 0; q < next.length; q++) {
                next[q] = start[q] + (int) queued;
            }
            device.write(ids, 0, next, 0, next.length);
            return List.of();
        }

        @Override
        protected void checkStep(int slot) {
            int step = (int) stepOfSlot[slot];
            checked.add(step);
            if (step == failAt) {
                throw new MmfreeException("step " + step + " failed its check");
            }
        }

        @Override
        protected void undoStep() {
            undone++;
        }

        @Override
        protected boolean modelOpen() {
            return true;
        }

        @Override
        protected void detached() {
        }
    }

    @Test
    void checksEachStepBeforeItsIdsAndAFailureBreaksTheStream() {
        try (Device device = OpenCl.open(null, false);
             DeviceBuffer ids = device.allocate(MemoryCategory.WORKSPACE, 8, "ids")) {
            Counting ok = new Counting(device, ids, new int[]{10, 20}, -1);
            for (int step = 1; step <= 4; step++) {
                assertArrayEquals(new int[]{10 + step, 20 + step}, ok.next(), "step " + step);
                assertEquals(step, ok.checked.size(), "checks after step " + step);
                assertEquals(step, ok.checked.get(step - 1), "the step checked before its ids");
            }
            ok.close();
            assertEquals(1, ok.undone, "the step queued ahead is taken back");

            Counting failing = new Counting(device, ids, new int[]{1, 2}, 2);
            assertArrayEquals(new int[]{2, 3}, failing.next());
            MmfreeException first = assertThrows(MmfreeException.class, failing::next, "the step that fails its check");
            assertTrue(first.getMessage().contains("step 2 failed"), first.getMessage());
            MmfreeException later = assertThrows(MmfreeException.class, failing::next, "a call after the failure");
            assertSame(first, later.getCause(), "a later call names the failure");
            assertEquals(2, failing.checked.size(), "no step is checked after the failure");
            failing.close();
        }
    }
}
