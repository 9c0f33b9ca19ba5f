package dev.mmfree.kernels.sampling;

import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** argmax_f32: the first index of the maximum, NaN skipped, rows at a stride. */
class GreedyOpenClTest {
    @Test
    void picksFirstMaximum() {
        try (Device device = ClTesting.openOrSkip();
             GreedyOpenCl k = new GreedyOpenCl(device, ClTesting.tilings(device)[0])) {
            Random r = new Random(61);
            int v = 1001;
            int stride = 1010;
            int rows = 4;
            float[] logits = ClTesting.gaussian(r, rows * stride, 3f);
            logits[1 * stride + 700] = 50f;
            logits[1 * stride + 300] = 50f;
            logits[2 * stride + 5] = Float.NaN;
            logits[2 * stride + 6] = 40f;
            logits[3 * stride + 1005] = 99f;
            int[] expected = new int[rows];
            for (int t = 0; t < rows; t++) {
                int best = 0;
                for (int j = 1; j < v; j++) {
                    if (logits[t * stride + j] > logits[t * stride + best] || Float.isNaN(logits[t * stride + best])) {
                        best = j;
                    }
                }
                expected[t] = best;
            }
            try (DeviceBuffer lB = device.upload(MemoryCategory.WORKSPACE, "logits", logits);
                 DeviceBuffer ids = ClTesting.poisoned(device, 4L * rows, "ids");
                 Launch l = k.argmax(lB, v, stride, ids, rows)) {
                l.enqueue(device);
                int[] got = new int[rows];
                device.read(ids, got);
                assertArrayEquals(expected, got);
                assertArrayEquals(new int[]{expected[0], 300, 6, expected[3]}, got);
            }
        }
    }
}
