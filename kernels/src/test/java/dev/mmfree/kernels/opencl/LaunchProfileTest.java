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
import static org.junit.jupiter.api.Assertions.assertEquals;
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

    /** The timeline mode: launches queue without waits, and each step's span, busy time, idle time and gap come out. */
    @Test
    void timelineCountsLaunchesAndStepsWithoutWaiting() {
        try (Device device = ClTesting.openOrSkip();
             SwiGluOpenCl swiGlu = new SwiGluOpenCl(device, ClTesting.tilings(device)[0])) {
            int i = 300;
            float[] gu = ClTesting.gaussian(new Random(4), 4 * 2 * i, 1f);
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
                LaunchProfile profile = new LaunchProfile(LaunchProfile.Mode.TIMELINE);
                for (int k = 0; k < 5; k++) {
                    profile.step();
                    profile.run(c, device);
                    profile.run(b, device);
                }
                profile.step();
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
                assertTrue(table.contains("(timeline)"), table);
                assertTrue(table.contains(kernel + " | [" + 4 * wg + "] | 6 |"), table);
                assertTrue(table.contains(kernel + " | [" + 2 * wg + "] | 5 |"), table);
                String two = table.lines().filter(l -> l.startsWith("2 | ")).findFirst().orElseThrow(() -> new AssertionError(table));
                String[] f = two.split(" \\| ");
                assertEquals("5", f[1], "five steps of two launches: " + two);
                double span = Double.parseDouble(f[2]);
                double busy = Double.parseDouble(f[3]);
                double idle = Double.parseDouble(f[4]);
                assertTrue(busy > 0 && span >= busy && idle >= 0, two);
                assertTrue(Double.parseDouble(f[5]) >= 0, "an in-order queue starts a step after the previous one ends: " + two);
                assertTrue(table.lines().anyMatch(l -> l.startsWith("1 | 1 | ")), table);
            }
        }
    }

    /** The host mode: plain launches, their enqueue calls timed by the host's clock, each closed step counted. */
    @Test
    void hostModeTimesEnqueueCallsAndSteps() {
        try (Device device = ClTesting.openOrSkip();
             SwiGluOpenCl swiGlu = new SwiGluOpenCl(device, ClTesting.tilings(device)[0])) {
            int i = 300;
            float[] gu = ClTesting.gaussian(new Random(5), 4 * 2 * i, 1f);
            float[] norm = new float[i];
            Arrays.fill(norm, 1f);
            try (DeviceBuffer guB = device.upload(MemoryCategory.WORKSPACE, "gu", gu);
                 DeviceBuffer nB = device.upload(MemoryCategory.WEIGHTS, "norm", norm);
                 QuantizedInput timed = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "timed", 1, 4, i);
                 Launch b = swiGlu.normQuant(guB, nB, 1e-5f, timed, 4)) {
                LaunchProfile profile = new LaunchProfile(LaunchProfile.Mode.HOST);
                for (int k = 0; k < 4; k++) {
                    profile.step();
                    profile.run(b, device);
                    profile.run(b, device);
                    profile.run(b, device);
                }
                profile.step();   // closes the fourth step
                device.synchronize();
                ByteArrayOutputStream text = new ByteArrayOutputStream();
                profile.print(new PrintStream(text, true, StandardCharsets.UTF_8), "test");
                String table = text.toString(StandardCharsets.UTF_8);
                long wg = ClTesting.tilings(device)[0].workGroup();
                assertTrue(table.contains("(host)"), table);
                assertTrue(table.contains(SwiGluOpenCl.NORM_QUANT + " | [" + 4 * wg + "] | 12 |"), table);
                String three = table.lines().filter(l -> l.startsWith("3 | ")).findFirst().orElseThrow(() -> new AssertionError(table));
                String[] f = three.split(" \\| ");
                assertEquals("4", f[1], "four closed steps of three launches: " + three);
                assertTrue(Double.parseDouble(f[2]) >= Double.parseDouble(f[3]) && Double.parseDouble(f[3]) > 0, three);
            }
        }
    }
}
