package dev.mmfree.kernels.opencl;

import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.swiglu.SwiGluOpenCl;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.LaunchProfile;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LaunchProfile} in its three modes: it runs the launches it times (same result as enqueueing them), counts
 * them by kernel and size, and (timeline, host) reports steps. The launches: one SwiGLU norm-quantize, into
 * {@code plain} (enqueued directly) and into {@code timed} on 4 rows ({@code b}) and 2 ({@code c}).
 */
class LaunchProfileTest {
    private static final int I = 300;
    private final List<AutoCloseable> owned = new ArrayList<>();
    private Device device;
    private QuantizedInput plain;
    private QuantizedInput timed;
    private Launch a;
    private Launch b;
    private Launch c;
    private String kernel;
    private long wg;

    @BeforeEach
    void launches() {
        device = ClTesting.openOrSkip();
        owned.add(device);
        SwiGluOpenCl swiGlu = own(new SwiGluOpenCl(device, ClTesting.tilings(device)[0]));
        float[] gu = ClTesting.gaussian(new Random(3), 4 * 2 * I, 1f);
        float[] norm = new float[I];
        Arrays.fill(norm, 1f);
        DeviceBuffer guB = own(device.upload(MemoryCategory.WORKSPACE, "gu", gu));
        DeviceBuffer nB = own(device.upload(MemoryCategory.WEIGHTS, "norm", norm));
        plain = own(QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "plain", 1, 4, I));
        timed = own(QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "timed", 1, 4, I));
        a = own(swiGlu.normQuant(guB, nB, 1e-5f, plain, 4));
        b = own(swiGlu.normQuant(guB, nB, 1e-5f, timed, 4));
        c = own(swiGlu.normQuant(guB, nB, 1e-5f, timed, 2));
        kernel = SwiGluOpenCl.NORM_QUANT;
        wg = ClTesting.tilings(device)[0].workGroup();
    }

    private <T extends AutoCloseable> T own(T resource) {
        owned.add(resource);
        return resource;
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable r : owned.reversed()) {
            r.close();
        }
        owned.clear();
    }

    @Test
    void runsEachLaunchAndCountsItByKernelAndSize() {
        a.enqueue(device);
        LaunchProfile profile = new LaunchProfile();
        for (int k = 0; k < 3; k++) {
            profile.run(b, device);
        }
        profile.run(c, device);
        profile.run(b, device);
        assertTimedMatchesPlain();
        String table = print(profile);
        assertTrue(table.contains(kernel + " | [" + 4 * wg + "] | 4 |"), table);
        assertTrue(table.contains(kernel + " | [" + 2 * wg + "] | 1 |"), table);
    }

    /** The timeline mode: launches queue without waits, and each step's span, busy time, idle time and gap come out. */
    @Test
    void timelineCountsLaunchesAndStepsWithoutWaiting() {
        a.enqueue(device);
        LaunchProfile profile = new LaunchProfile(LaunchProfile.Mode.TIMELINE);
        for (int k = 0; k < 5; k++) {
            profile.step();
            profile.run(c, device);
            profile.run(b, device);
        }
        profile.step();
        profile.run(b, device);
        assertTimedMatchesPlain();
        String table = print(profile);
        assertTrue(table.contains("(timeline)"), table);
        assertTrue(table.contains(kernel + " | [" + 4 * wg + "] | 6 |"), table);
        assertTrue(table.contains(kernel + " | [" + 2 * wg + "] | 5 |"), table);
        String[] f = stepLine(table, 2);
        assertEquals("5", f[1], "five steps of two launches: " + String.join(" | ", f));
        double span = Double.parseDouble(f[2]);
        double busy = Double.parseDouble(f[3]);
        double idle = Double.parseDouble(f[4]);
        assertTrue(busy > 0 && span >= busy && idle >= 0, String.join(" | ", f));
        assertTrue(Double.parseDouble(f[5]) >= 0, "an in-order queue starts a step after the previous one ends");
        assertEquals("1", stepLine(table, 1)[1], "the last step, of one launch");
    }

    /** The host mode: plain launches, their enqueue calls timed by the host's clock, each closed step counted. */
    @Test
    void hostModeTimesEnqueueCallsAndSteps() {
        LaunchProfile profile = new LaunchProfile(LaunchProfile.Mode.HOST);
        for (int k = 0; k < 4; k++) {
            profile.step();
            profile.run(b, device);
            profile.run(b, device);
            profile.run(b, device);
        }
        profile.step();   // closes the fourth step
        device.synchronize();
        String table = print(profile);
        assertTrue(table.contains("(host)"), table);
        assertTrue(table.contains(kernel + " | [" + 4 * wg + "] | 12 |"), table);
        String[] f = stepLine(table, 3);
        assertEquals("4", f[1], "four closed steps of three launches");
        assertTrue(Double.parseDouble(f[2]) >= Double.parseDouble(f[3]) && Double.parseDouble(f[3]) > 0, String.join(" | ", f));
    }

    /** A profiled launch computes what an enqueued one does. */
    private void assertTimedMatchesPlain() {
        byte[] want = new byte[4 * QuantizedInput.kPad(I)];
        byte[] got = new byte[want.length];
        device.read(plain.q(), want);
        device.read(timed.q(), got);
        assertArrayEquals(want, got, "a profiled launch computes what an enqueued one does");
    }

    private static String print(LaunchProfile profile) {
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        profile.print(new PrintStream(text, true, StandardCharsets.UTF_8), "test");
        return text.toString(StandardCharsets.UTF_8);
    }

    /** The fields of the steps table's line for steps of this many launches. */
    private static String[] stepLine(String table, int launches) {
        return table.lines().filter(l -> l.startsWith(launches + " | ")).findFirst()
                .orElseThrow(() -> new AssertionError("no steps of " + launches + " launches in\n" + table)).split(" \\| ");
    }
}
