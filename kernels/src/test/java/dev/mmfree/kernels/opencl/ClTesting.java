package dev.mmfree.kernels.opencl;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.opencl.OpenCl;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Shared by the OpenCL kernel tests: the device, poisoned buffers, random data and the checks. */
public final class ClTesting {
    /** The bits of a quiet NaN: outputs are filled with it before a kernel runs, so unwritten elements fail. */
    public static final int POISON = 0x7fc00bad;

    private ClTesting() {
    }

    /**
     * Skips the calling test class (with the reason) when this machine has no OpenCL device, or fails it where
     * MMFREE_REQUIRE_OPENCL=1 ({@link OpenCl#skipReason()}).
     */
    public static Device openOrSkip() {
        assumeTrue(OpenCl.skipReason().isEmpty(), () -> "OpenCL unavailable: " + OpenCl.unavailableReason().orElse(""));
        return OpenCl.open(null, true);
    }

    /**
     * The device's default tiling, the GPU defaults (32 x 8 x 8, and 16 x 16 x 8 for narrow outputs) so
     * the shapes the H200 runs are tested here too, and a small one with an odd TOKENS (8 x 4 x 3).
     * Without PTX: PoCL cannot run it; the PTX path differs only in dp4a and the shuffles.
     */
    public static Tiling[] tilings(Device d) {
        java.util.LinkedHashSet<Tiling> set = new java.util.LinkedHashSet<>();
        Tiling def = Tiling.forDevice(d.info());
        set.add(def);
        set.add(new Tiling(32, 8, 8, def.ptx()));
        set.add(new Tiling(16, 16, 8, def.ptx()));
        set.add(new Tiling(8, 4, 3, false));
        return set.toArray(new Tiling[0]);
    }

    /**
     * The batch-1 decode kernels' tilings: the device's decode shapes, the GPU ones (64 x 4 x 8 wide,
     * 32 x 8 x 8 narrow), and the small odd one (8 x 4 x 3).
     */
    public static Tiling[] decodeTilings(Device d) {
        java.util.LinkedHashSet<Tiling> set = new java.util.LinkedHashSet<>();
        boolean ptx = Tiling.forDevice(d.info()).ptx();
        set.add(Tiling.decodeForDevice(d.info()));
        set.add(Tiling.narrowForDevice(d.info()));
        set.add(new Tiling(64, 4, 8, ptx));
        set.add(new Tiling(32, 8, 8, ptx));
        set.add(new Tiling(8, 4, 3, false));
        return set.toArray(new Tiling[0]);
    }

    public static DeviceBuffer poisoned(Device d, long bytes, String role) {
        DeviceBuffer b = d.allocate(MemoryCategory.WORKSPACE, bytes, role);
        d.fill(b, POISON);
        return b;
    }

    public static float[] gaussian(Random r, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian() * scale;
        }
        return a;
    }

    /** Positive-ish norm weights around 1, as trained norms look. */
    public static float[] normWeights(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = 0.5f + r.nextFloat();
        }
        return a;
    }

    public static TernaryMatrix randomTernary(Random r, int out, int in) {
        byte[] t = new byte[out * in];
        for (int i = 0; i < t.length; i++) {
            t[i] = (byte) (r.nextInt(3) - 1);
        }
        return TernaryMatrix.pack(t, out, in, 0.01f + r.nextFloat() * 0.1f);
    }

    /** Relative L2 error of got vs ref, failing above tol with the first differing values. */
    public static void assertRelL2(String what, float[] ref, float[] got, double tol) {
        double diff = 0;
        double norm = 0;
        int first = -1;
        for (int i = 0; i < ref.length; i++) {
            if (!Float.isFinite(got[i])) {
                fail(what + ": non-finite " + got[i] + " at " + i + " (reference " + ref[i] + ")");
            }
            double e = (double) got[i] - ref[i];
            diff += e * e;
            norm += (double) ref[i] * ref[i];
            if (first < 0 && e != 0) {
                first = i;
            }
        }
        double rel = norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
        if (!(rel <= tol)) {
            fail(String.format("%s: rel L2 %.3e > %.1e; first difference at %d: got %s, reference %s",
                    what, rel, tol, first, got[first], ref[first]));
        }
    }

    /** got must equal ref bit for bit. */
    public static void assertExact(String what, float[] ref, float[] got) {
        for (int i = 0; i < ref.length; i++) {
            if (Float.floatToIntBits(ref[i]) != Float.floatToIntBits(got[i])) {
                fail(what + ": first difference at " + i + ": got " + got[i] + ", reference " + ref[i]);
            }
        }
    }

    /**
     * Results the kernels compute in the reference's order of float steps: on a device with fp64 (norm
     * sums in double, as the reference) bit for bit; without, by relative L2 at most 1e-5.
     */
    public static void assertFollowsReference(Device d, String what, float[] ref, float[] got) {
        if (d.info().fp64()) {
            assertExact(what, ref, got);
        } else {
            assertRelL2(what, ref, got, 1e-5);
        }
    }

    /**
     * int8 codes: on a device with fp64 equal to the reference's; without, float norm sums may land a
     * value on the other side of a rounding tie, so a code may differ by one where the reference's
     * pre-rounding value y * scale lies within 1e-3 of x.5.
     */
    public static void assertCodes(Device d, String what, float[] refY, float refScale, byte[] refQ, byte[] got) {
        for (int i = 0; i < refQ.length; i++) {
            if (refQ[i] != got[i]) {
                assertTrue(!d.info().fp64(), what + ": code " + i + " is " + got[i] + ", reference " + refQ[i]
                        + " (device has fp64: codes must match exactly)");
                double v = (double) refY[i] * refScale;
                double toTie = Math.abs(Math.abs(v - Math.floor(v)) - 0.5);
                assertTrue(Math.abs(refQ[i] - got[i]) == 1 && toTie < 1e-3, what + ": code " + i + " is " + got[i]
                        + ", reference " + refQ[i] + " (pre-rounding " + v + ", not at a rounding tie)");
            }
        }
    }
}
