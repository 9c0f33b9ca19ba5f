package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * BitLinear OpenCL kernels against {@link BitLinearReference} (and {@link RmsNormQuantReference} for
 * the fused norms), on every tiling of {@link ClTesting#tilings}.
 *
 * <p>The GEMM's output is compared bit for bit: the integer sum is exact and the kernel applies the
 * scales in the reference's order. The fused norm kernel follows the reference's float steps with
 * double sums, so on an fp64 device it is bit for bit too ({@link ClTesting#assertFollowsReference}).
 */
class BitLinearOpenClTest {
    private static Device device;
    private static Tiling[] tilings;

    @BeforeAll
    static void open() {
        device = ClTesting.openOrSkip();
        tilings = ClTesting.tilings(device);
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
            assertEquals(0, device.memory().totalBytes(), "ledger after close");
        }
    }

    private static final int[][] SHAPES = {{1, 3, 100}, {3, 257, 1000}, {2, 70, 64}, {1, 5, 17}};

    @Test
    void gemmMatchesReferenceBitForBit() {
        Random r = new Random(11);
        for (Tiling tiling : tilings) {
            try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tiling)) {
                for (int[] s : SHAPES) {
                    for (int rows : new int[]{1, 2, 7}) {
                        for (boolean acc : new boolean[]{false, true}) {
                            gemmCase(bl, r, s[0], s[1], s[2], rows, acc);
                        }
                    }
                }
            }
        }
    }

    /**
     * The tensor-core GEMM on several work-group shapes, with input widths whose chunk count is not a
     * multiple of 4 and row counts that are not multiples of a work-group's tokens. On NVIDIA it runs
     * mma.sync; elsewhere its mma steps are emulated from the documented fragment layout, which tests
     * everything but the instruction itself.
     */
    @Test
    void mmaGemmMatchesReferenceBitForBit() {
        Tiling def = Tiling.forDevice(device.info());
        Random r = new Random(12);
        int[][] shapes = {{1, 3, 100}, {3, 257, 1000}, {2, 70, 64}, {1, 130, 300}, {1, 64, 2560}};
        for (MmaShape shape : new MmaShape[]{MmaShape.DEFAULT, MmaShape.NARROW_DEFAULT, new MmaShape(2, 2, 4),
                new MmaShape(1, 2, 4), new MmaShape(4, 1, 2), new MmaShape(1, 4, 8), new MmaShape(4, 1, 1), new MmaShape(2, 1, 8),
                new MmaShape(2, 2, 2, 4), new MmaShape(1, 2, 4, 3), new MmaShape(1, 1, 1, 8), new MmaShape(1, 2, 8, 2)}) {
            try (BitLinearOpenCl bl = new BitLinearOpenCl(device, def, Optional.of(MmaShape.Choice.of(shape)))) {
                for (int[] s : shapes) {
                    for (int rows : new int[]{2, 9, 64, 70}) {
                        gemmCase(bl, r, s[0], s[1], s[2], rows, rows % 2 == 0);
                    }
                }
            }
        }
        // wide and narrow shapes in one instance: each GEMM takes the one its rows pick
        MmaShape.Choice both = new MmaShape.Choice(new MmaShape(2, 2, 4), new MmaShape(4, 1, 1));
        try (BitLinearOpenCl bl = new BitLinearOpenCl(device, def, Optional.of(both))) {
            gemmCase(bl, r, 1, MmaShape.NARROW_ROWS + 70, 300, 9, false);
            gemmCase(bl, r, 1, 200, 300, 9, true);
        }
    }

    /**
     * The fused epilogues of the tensor-core GEMM against the reference composition (the GEMM's outputs
     * by {@link BitLinearReference}, then SwiGLU or the MLGRU step of {@link SwiGluReference}'s float
     * steps), on channel counts that end inside a warp's 16, inputs whose chunk count is not a multiple
     * of 4 and rows that are not multiples of a work-group's tokens; with and without an input split.
     */
    @Test
    void mmaFusedEpiloguesMatchReference() {
        Tiling def = Tiling.forDevice(device.info());
        Random r = new Random(13);
        for (MmaShape shape : new MmaShape[]{MmaShape.DEFAULT, new MmaShape(2, 1, 1), new MmaShape(1, 1, 2, 3)}) {
            try (BitLinearOpenCl bl = new BitLinearOpenCl(device, def, Optional.of(MmaShape.Choice.of(shape)))) {
                for (int[] s : new int[][]{{35, 300}, {16, 64}, {70, 1000}}) {
                    for (int rows : new int[]{2, 9, 33}) {
                        swiGluCase(bl, r, s[0], s[1], rows);
                        mlgruCase(bl, r, s[0], s[1], rows);
                    }
                }
            }
        }
    }

    private void swiGluCase(BitLinearOpenCl bl, Random r, int channels, int in, int rows) {
        String what = "gemm+swiglu " + bl + " I " + channels + " in " + in + " rows " + rows;
        TernaryMatrix gateUp = ClTesting.randomTernary(r, 2 * channels, in);
        byte[] q = new byte[rows * in];
        r.nextBytes(q);
        float[] factor = factors(r, rows);
        float[] gu = new float[rows * 2 * channels];
        BitLinearReference.forward(gateUp, q, factor, rows, gu, false);
        float[] expected = new float[rows * channels];
        for (int t = 0; t < rows; t++) {
            SwiGluReference.apply(gu, t * 2 * channels, gu, t * 2 * channels + channels, expected, t * channels, channels);
        }
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "gate|up", gateUp);
             QuantizedInput in8 = upload(new byte[][]{q}, new float[][]{factor}, rows, in);
             DeviceBuffer v = ClTesting.poisoned(device, 4L * expected.length + 64, "v")) {
            try (Launch l = bl.gemmSwiGlu(w, in8, rows, v)) {
                l.enqueue(device);
            }
            float[] got = new float[expected.length + 16];
            device.read(v, got);
            ClTesting.assertFollowsReference(device, what, expected, Arrays.copyOf(got, expected.length));
            assertUntouched(what, got, expected.length);
        }
    }

    private void mlgruCase(BitLinearOpenCl bl, Random r, int d, int in, int b) {
        String what = "gemm+mlgru " + bl + " d " + d + " in " + in + " b " + b;
        TernaryMatrix[] stack = new TernaryMatrix[3];
        byte[][] q = new byte[3][b * in];
        float[][] factor = new float[3][];
        float[][] y = new float[3][b * d];
        for (int p = 0; p < 3; p++) {
            stack[p] = ClTesting.randomTernary(r, d, in);
            r.nextBytes(q[p]);
            factor[p] = factors(r, b);
            BitLinearReference.forward(stack[p], q[p], factor[p], b, y[p], false);
        }
        float[] lb = new float[d];
        for (int j = 0; j < d; j++) {
            lb[j] = r.nextFloat() * 0.9f;
        }
        float[] state0 = ClTesting.gaussian(r, b * d, 1f);
        float[] ifg0 = ClTesting.gaussian(r, b * 3 * d, 1f);   // i and f thirds must stay as they were
        float[] refState = new float[b * d];
        float[] refGate = new float[b * d];
        float[] refIfg = ifg0.clone();
        for (int t = 0; t < b; t++) {
            for (int j = 0; j < d; j++) {
                int at = t * d + j;
                float f = lb[j] + (1 - lb[j]) * SwiGluReference.sigmoid(y[1][at]);
                refState[at] = f * state0[at] + SwiGluReference.silu(y[0][at]) * (1 - f);
                refGate[at] = SwiGluReference.silu(refState[at]);
                refIfg[t * 3 * d + 2 * d + j] = y[2][at];
            }
        }
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "i|f|g", stack);
             QuantizedInput in8 = upload(q, factor, b, in);
             DeviceBuffer lbB = device.upload(MemoryCategory.WEIGHTS, "lb", lb);
             DeviceBuffer sIn = device.upload(MemoryCategory.STATE, "state in", state0);
             DeviceBuffer sOut = ClTesting.poisoned(device, 4L * b * d + 64, "state out");
             DeviceBuffer gate = ClTesting.poisoned(device, 4L * b * d + 64, "gate");
             DeviceBuffer ifg = device.upload(MemoryCategory.WORKSPACE, "ifg", ifg0)) {
            try (Launch l = bl.gemmMlgru(w, in8, b, lbB, sIn, sOut, gate, ifg)) {
                l.enqueue(device);
            }
            float[] gotState = new float[b * d + 16];
            float[] gotGate = new float[b * d + 16];
            float[] gotIfg = new float[b * 3 * d];
            device.read(sOut, gotState);
            device.read(gate, gotGate);
            device.read(ifg, gotIfg);
            ClTesting.assertFollowsReference(device, what + ": state", refState, Arrays.copyOf(gotState, b * d));
            ClTesting.assertFollowsReference(device, what + ": gate", refGate, Arrays.copyOf(gotGate, b * d));
            ClTesting.assertExact(what + ": ifg (g written, i and f kept)", refIfg, gotIfg);
            assertUntouched(what + ": state", gotState, b * d);
            assertUntouched(what + ": gate", gotGate, b * d);
        }
    }

    private static float[] factors(Random r, int rows) {
        float[] f = new float[rows];
        for (int t = 0; t < rows; t++) {
            f[t] = 0.001f + r.nextFloat() * 0.05f;
        }
        return f;
    }

    private static void assertUntouched(String what, float[] got, int from) {
        for (int i = from; i < got.length; i++) {
            assertEquals(ClTesting.POISON, Float.floatToRawIntBits(got[i]), what + ": wrote past the output at " + i);
        }
    }

    private void gemmCase(BitLinearOpenCl bl, Random r, int projections, int out, int in, int rows, boolean accumulate) {
        String what = "gemm " + bl + " P " + projections + " [" + out + ", " + in + "] rows " + rows + (accumulate ? " +=" : "");
        TernaryMatrix[] stack = new TernaryMatrix[projections];
        for (int p = 0; p < projections; p++) {
            stack[p] = ClTesting.randomTernary(r, out, in);
        }
        byte[][] q = new byte[projections][rows * in];
        float[][] factor = new float[projections][rows];
        for (int p = 0; p < projections; p++) {
            r.nextBytes(q[p]);
            for (int t = 0; t < rows; t++) {
                factor[p][t] = 0.001f + r.nextFloat() * 0.05f;
            }
        }
        float[] y0 = ClTesting.gaussian(r, rows * projections * out, 1f);
        float[] expected = y0.clone();
        for (int p = 0; p < projections; p++) {
            float[] yp = new float[rows * out];
            for (int t = 0; t < rows; t++) {
                System.arraycopy(expected, t * projections * out + p * out, yp, t * out, out);
            }
            BitLinearReference.forward(stack[p], q[p], factor[p], rows, yp, accumulate);
            for (int t = 0; t < rows; t++) {
                System.arraycopy(yp, t * out, expected, t * projections * out + p * out, out);
            }
        }
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "w", stack);
             QuantizedInput in8 = upload(q, factor, rows, in);
             DeviceBuffer y = ClTesting.poisoned(device, 4L * y0.length + 64, "y")) {
            if (accumulate) {
                device.write(y, y0);
            }
            try (Launch l = bl.gemm(w, in8, rows, y, accumulate)) {
                l.enqueue(device);
            }
            float[] got = new float[y0.length + 16];
            device.read(y, got);
            ClTesting.assertExact(what, expected, java.util.Arrays.copyOf(got, y0.length));
            for (int i = y0.length; i < got.length; i++) {
                assertEquals(ClTesting.POISON, Float.floatToRawIntBits(got[i]), what + ": wrote past the output at " + i);
            }
        }
    }

    /** Codes [P][rows][in] as the device layout [P][rows][kPad], with factors and code sums. */
    static QuantizedInput upload(byte[][] q, float[][] factor, int rows, int in) {
        int projections = q.length;
        int kPad = QuantizedInput.kPad(in);
        QuantizedInput d = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "q", projections, rows, in);
        byte[] all = new byte[projections * rows * kPad];
        float[] f = new float[projections * rows];
        int[] sums = new int[projections * rows];
        for (int p = 0; p < projections; p++) {
            for (int t = 0; t < rows; t++) {
                System.arraycopy(q[p], t * in, all, (p * rows + t) * kPad, in);
                f[p * rows + t] = factor[p][t];
                for (int j = 0; j < in; j++) {
                    sums[p * rows + t] += q[p][t * in + j];
                }
            }
        }
        device.write(d.q(), all);
        device.write(d.factor(), f);
        device.write(d.qsum(), sums);
        return d;
    }
}
