package dev.mmfree.kernels.opencl;

import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.swiglu.SwiGluOpenCl;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.LaunchProfile;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link LaunchProfile}: runs the launches it times (same result as enqueueing them) and counts them by kernel and size. */
class LaunchProfileTest {
    @Test
    void runsEachLaunchAndCountsItByKernelAndSize() {
        try (Device device = ClTesting.openOrSkip();
             SwiGluOpenCl swiGlu = new SwiGluOpenCl(device, ClTesting.tilings(device)[0])) {
            int i = 300;
            float[] gu = ClTesting.gaussian(new Random(3), 4 * 2 * i, 1f);
            float[] norm = new float[i];
            Arrays.fill(norm, 1f);
            try (DeviceBuffer guB = device.upload(MemoryCategory.WORKSPACE, "gu", gu);
                 DeviceBuffer nB = device.upload(MemoryCategory.WEIGHTS, "norm", norm);
                 QuantizedInput plain = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "plain", 1, 4, i);
                 QuantizedInput timed = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "timed", 1, 4, i);
                 Launch a = swiGlu.normQuant(guB, nB, 1e-5f, plain, 4);
                 Launch b = swiGlu.normQuant(guB, nB, 1e-5f, timed, 4);
                 Launch c = swiGlu.normQuant(guB, nB, 1e-5f, timed, 2)) {
                a.enqueue(device);
                LaunchProfile profile = new LaunchProfile();
                for (int k = 0; k < 3; k++) {
                    profile.run(b, device);
                }
                profile.run(c, device);
                profile.run(b, device);
                byte[] want = new byte[4 * QuantizedInput.kPad(i)];
                byte[] got = new byte[want.length];
                device.read(plain.q(), want);
                device.read(timed.q(), got);
                assertArrayEquals(want, got, "a profiled launch computes what an enqueued one does");

                ByteArrayOutputStream text = new ByteArrayOutputStream();
                profile.print(new PrintStream(text, true, StandardCharsets.UTF_8), "test");
                String table = text.toString(StandardCharsets.UTF_8);
                String kernel = SwiGluOpenCl.NORM_QUANT;
                long wg = ClTesting.tilings(device)[0].workGroup();
                assertTrue(table.contains(kernel + " | [" + 4 * wg + "] | 4 |"), table);
                assertTrue(table.contains(kernel + " | [" + 2 * wg + "] | 1 |"), table);
            }
        }
    }
}
