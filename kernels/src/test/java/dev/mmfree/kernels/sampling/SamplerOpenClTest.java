package dev.mmfree.kernels.sampling;

import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Device sampling against {@link SamplerReference}: greedy exactly; temperature / top-k / top-p the
 * same token, except where the reference itself flips under a nudge of u or p by 1e-9 (the device's
 * tree sums differ from the reference's sequential ones in the last bits, which only matters at such
 * boundaries; random rows almost never land there).
 */
class SamplerOpenClTest extends ClDeviceTest {
    private static SamplerOpenCl sampler;

    @BeforeAll
    static void open() {
        sampler = new SamplerOpenCl(device, ClTesting.tilings(device)[0]);
    }

    @AfterAll
    static void close() {
        if (sampler != null) {
            sampler.close();
            sampler = null;
        }
    }

    @Test
    void greedyPicksFirstMaximumAtAStride() {
        Random r = new Random(61);
        int v = 1001;
        int stride = 1010;
        int rows = 3;
        float[] logits = ClTesting.gaussian(r, rows * stride, 3f);
        logits[stride + 700] = 50f;
        logits[stride + 300] = 50f;
        logits[2 * stride + 1005] = 99f;
        int[] expected = new int[rows];
        for (int t = 0; t < rows; t++) {
            float[] row = java.util.Arrays.copyOfRange(logits, t * stride, t * stride + v);
            expected[t] = SamplerReference.argmax(row, 0, v);
        }
        assertArrayEquals(new int[]{expected[0], 300, expected[2]}, run(logits, v, stride, SamplingParams.greedy(), new double[rows]));
    }

    @Test
    void topKTopPTemperatureMatchReference() {
        assumeTrue(device.info().fp64(), "device sampling of top-k/top-p needs fp64");
        SplittableRandom r = new SplittableRandom(62);
        SamplingParams[] params = {
                new SamplingParams(1.0, 0, 1.0, 1), new SamplingParams(0.7, 40, 1.0, 1), new SamplingParams(1.3, 0, 0.9, 1),
                new SamplingParams(0.8, 50, 0.5, 1), new SamplingParams(2.0, 1, 1.0, 1), new SamplingParams(1.0, 5000, 0.95, 1),
                new SamplingParams(0.5, 0, 0.01, 1)};
        for (int v : new int[]{1000, 37, 3000}) {
            int rows = 4;
            float[] logits = new float[rows * v];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) (r.nextGaussian() * 3);
            }
            for (int j = 0; j < v / 4; j++) {   // ties in value: a quarter of row 1 shares one logit
                logits[v + 4 * j] = 2.5f;
            }
            logits[2 * v + 7] = Float.NEGATIVE_INFINITY;
            for (SamplingParams p : params) {
                for (int rep = 0; rep < 3; rep++) {
                    double[] u = new double[rows];
                    for (int t = 0; t < rows; t++) {
                        u[t] = r.nextDouble();
                    }
                    int[] got = run(logits, v, v, p, u);
                    SamplerReference ref = new SamplerReference();
                    for (int t = 0; t < rows; t++) {
                        int want = ref.sample(logits, t * v, v, p, u[t]);
                        if (got[t] != want && !boundary(ref, logits, t * v, v, p, u[t], got[t])) {
                            fail("v " + v + " " + p + " row " + t + " u " + u[t] + ": device " + got[t] + ", reference " + want);
                        }
                    }
                }
            }
        }
    }

    /** Whether the reference gives the device's token under u or p nudged by 1e-9. */
    private static boolean boundary(SamplerReference ref, float[] l, int off, int v, SamplingParams p, double u, int got) {
        for (double du : new double[]{-1e-9, 1e-9}) {
            if (u + du >= 0 && u + du < 1 && ref.sample(l, off, v, p, u + du) == got) {
                return true;
            }
            double pp = Math.min(1, p.topP() + du);
            if (pp > 0 && ref.sample(l, off, v, new SamplingParams(p.temperature(), p.topK(), pp, p.seed()), u) == got) {
                return true;
            }
        }
        return false;
    }

    @Test
    void unsampleableRowsFailLikeTheReference() {
        assumeTrue(device.info().fp64(), "device sampling of top-k/top-p needs fp64");
        float[] logits = {1f, Float.NaN, 2f, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, 3f, Float.POSITIVE_INFINITY, 1f};
        int[] ids = run(logits, 3, 3, new SamplingParams(1, 0, 1, 1), new double[]{0.5, 0.5, 0.5});
        assertArrayEquals(new int[]{-1, -1, -1}, ids);
        assertThrows(SamplingException.class, () -> SamplerOpenCl.check(ids));
    }

    private static int[] run(float[] logits, int v, int stride, SamplingParams p, double[] u) {
        int rows = u.length;
        try (DeviceBuffer lb = device.upload(MemoryCategory.WORKSPACE, "logits", logits);
             DeviceBuffer ub = device.allocate(MemoryCategory.WORKSPACE, 8L * rows, "u");
             DeviceBuffer scratch = device.allocate(MemoryCategory.WORKSPACE, 8L * rows * v, "sampling scratch");
             DeviceBuffer ids = ClTesting.poisoned(device, 4L * rows, "ids");
             Launch l = sampler.sample(lb, v, stride, p, ub, scratch, ids, rows)) {
            device.write(ub, 0, toBytes(u), 0, 8 * rows);
            l.enqueue(device);
            int[] got = new int[rows];
            device.read(ids, got);
            return got;
        }
    }

    static byte[] toBytes(double[] u) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 * u.length).order(java.nio.ByteOrder.nativeOrder());
        for (double x : u) {
            b.putDouble(x);
        }
        return b.array();
    }
}
