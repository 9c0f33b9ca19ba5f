package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.bitlinear.BitLinearOpenCl.GemvSchedule;
import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * BitLinear OpenCL kernels against {@link BitLinearReference} (and {@link RmsNormQuantReference} for
 * the fused norms), on every tiling of {@link ClTesting#tilings}.
 *
 * <p>The GEMM's output is compared bit for bit: the integer sum is exact and the kernel applies the
 * scales in the reference's order. The fused norm kernel follows the reference's float steps with
 * double sums, so on an fp64 device it is bit for bit too ({@link ClTesting#assertFollowsReference}).
 */
class BitLinearOpenClTest extends ClDeviceTest {
    private static Tiling[] tilings;

    @BeforeAll
    static void open() {
        tilings = ClTesting.tilings(device);
    }

    private static final int[][] SHAPES = {{1, 3, 100}, {3, 257, 1000}, {2, 70, 64}, {1, 5, 17}};

    /** The dp4a GEMM (and the GEMV at one row) on every tiling, on chunk-major weights and blocked by 64 rows. */
    @Test
    void gemmMatchesReferenceBitForBit() {
        Random r = new Random(11);
        for (Tiling tiling : tilings) {
            for (int blockRows : new int[]{0, 64}) {
                try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tiling, Optional.empty(), GemvSchedule.forDevice(device.info()), blockRows)) {
                    for (int[] s : SHAPES) {
                        for (int rows : new int[]{1, 2, 7}) {
                            for (boolean acc : new boolean[]{false, true}) {
                                gemmCase(bl, r, s[0], s[1], s[2], rows, acc, blockRows);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * The one-row GEMV on fewer work-groups than row blocks, so that each takes several in turn with the
     * next block's weights loaded ahead, and on inputs wider than a work-item loads ahead.
     */
    @Test
    void gemvOnFewWorkGroupsMatchesReferenceBitForBit() {
        Random r = new Random(13);
        for (Tiling tiling : tilings) {
            for (int groups : new int[]{1, 2, 5}) {
                try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tiling, Optional.empty(), new GemvSchedule(groups, 0))) {
                    gemmCase(bl, r, 3, 257, 1000, 1, groups % 2 == 1);
                    gemmCase(bl, r, 1, 70, 8300, 1, groups == 2);
                }
            }
        }
        assertThrows(MmfreeException.class, () -> new GemvSchedule(-1, 0));
        assertThrows(MmfreeException.class, () -> new GemvSchedule(0, -1));
    }

    /**
     * The one-row GEMV narrowed for narrow outputs: a schedule asking for more row blocks than the
     * output has takes the 64- and 32-row tilings down to 16 rows and 16 or 32 slices, on every device.
     */
    @Test
    void gemvOnNarrowedBlocksMatchesReferenceBitForBit() {
        Random r = new Random(14);
        boolean ptx = Tiling.forDevice(device.info()).ptx();
        for (Tiling tiling : new Tiling[]{new Tiling(64, 4, 8, ptx), new Tiling(32, 8, 8, ptx)}) {
            for (int groups : new int[]{0, 3}) {
                try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tiling, Optional.empty(), new GemvSchedule(groups, 1 << 20))) {
                    reshapedGemvCases(bl, r, groups == 0);
                }
            }
        }
    }

    /**
     * The one-row GEMV on smaller work-groups for wide outputs: a schedule with 16 wide rows takes the 64- and
     * 32-row tilings down to 16 rows with their slices, unless the output is narrow, on every device.
     */
    @Test
    void gemvOnWideRowsMatchesReferenceBitForBit() {
        Random r = new Random(16);
        boolean ptx = Tiling.forDevice(device.info()).ptx();
        for (Tiling tiling : new Tiling[]{new Tiling(64, 4, 8, ptx), new Tiling(32, 8, 8, ptx)}) {
            for (int groups : new int[]{0, 3}) {
                try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tiling, Optional.empty(), new GemvSchedule(groups, 8, 16, 0))) {
                    assertEquals(new Tiling(16, tiling.slices(), 8, ptx), bl.gemvTiling(1024));
                    assertEquals(new Tiling(16, tiling.slices() * tiling.rows() / 16, 8, ptx), bl.gemvTiling(64),
                            "narrow outputs narrow as before");
                    reshapedGemvCases(bl, r, groups == 0);
                }
            }
        }
        assertThrows(MmfreeException.class, () -> new GemvSchedule(0, 0, 8, 0));
        assertThrows(MmfreeException.class, () -> new GemvSchedule(0, 0, 24, 0));
    }

    /**
     * The one-row GEMV on 8-row work-groups for narrow outputs: a schedule with narrowRows 8 takes the 64- and 32-row
     * tilings down to 8 rows and 32 or 64 slices where the output is narrow, and leaves wide outputs as they were.
     */
    @Test
    void gemvOnEightRowNarrowBlocksMatchesReferenceBitForBit() {
        Random r = new Random(18);
        boolean ptx = Tiling.forDevice(device.info()).ptx();
        for (Tiling tiling : new Tiling[]{new Tiling(64, 4, 8, ptx), new Tiling(32, 8, 8, ptx)}) {
            for (int groups : new int[]{0, 3}) {
                try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tiling, Optional.empty(), new GemvSchedule(groups, 8, 0, 8))) {
                    assertEquals(new Tiling(8, tiling.slices() * tiling.rows() / 8, 8, ptx), bl.gemvTiling(64), "narrow: 8 rows");
                    assertEquals(tiling, bl.gemvTiling(1024), "wide: the GEMM's");
                    reshapedGemvCases(bl, r, groups == 0);
                }
            }
        }
        assertThrows(MmfreeException.class, () -> new GemvSchedule(0, 0, 0, 4));
        assertThrows(MmfreeException.class, () -> new GemvSchedule(0, 0, 0, 32));
    }

    /**
     * The GEMV built with clock marks ({@link BitLinearOpenCl#gemvTraced}) computes the same bits as the plain one, and
     * work-item 0 of every work-group writes its four marks and its SM over a poisoned trace (on NVIDIA the marks are
     * clocks in order; elsewhere zeros), and nothing past them.
     */
    @Test
    void tracedGemvMatchesReferenceAndStampsEveryGroup() {
        Random r = new Random(19);
        boolean ptx = Tiling.forDevice(device.info()).ptx();
        for (int groups : new int[]{0, 3}) {
            try (BitLinearOpenCl bl = new BitLinearOpenCl(device, new Tiling(32, 8, 8, ptx), Optional.empty(),
                    new GemvSchedule(groups, 8, 16, 8), 32)) {
                int out = 200;
                int in = 1000;
                TernaryMatrix m = ClTesting.randomTernary(r, out, in);
                byte[][] q = new byte[1][in];
                r.nextBytes(q[0]);
                float[][] factor = {{0.02f}};
                float[] expected = new float[out];
                BitLinearReference.forward(m, q[0], factor[0], 1, expected, false);
                try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "w", 32, m);
                     QuantizedInput in8 = upload(q, factor, 1, in);
                     DeviceBuffer y = ClTesting.poisoned(device, 4L * out, "y")) {
                    int n = (int) bl.gemvGroups(w);
                    assertEquals(groups == 0 ? 256 / 16 : 3, n, "work-groups: one a 16-row block, or the schedule's");
                    try (DeviceBuffer trace = ClTesting.poisoned(device, 8L * GemvTrace.SLOTS * n + 64, "trace");
                         Launch l = bl.gemvTraced(w, in8, y, trace)) {
                        l.enqueue(device);
                        float[] got = new float[out];
                        device.read(y, got);
                        ClTesting.assertExact("traced gemv, groups " + groups, expected, got);
                        int[] words = new int[2 * GemvTrace.SLOTS * n + 16];
                        device.read(trace, words);
                        long[] raw = new long[GemvTrace.SLOTS * n];
                        for (int i = 0; i < raw.length; i++) {
                            raw[i] = (words[2 * i] & 0xFFFFFFFFL) | (long) words[2 * i + 1] << 32;
                            assertNotEquals(ClTesting.POISON, words[2 * i], "trace slot " + i + " not written");
                        }
                        for (int i = 2 * raw.length; i < words.length; i++) {
                            assertEquals(ClTesting.POISON, words[i], "wrote past the trace at int " + i);
                        }
                        for (int g = 0; g < n; g++) {
                            int at = g * GemvTrace.SLOTS;
                            assertTrue(raw[at + GemvTrace.ENTRY] <= raw[at + GemvTrace.CODES] && raw[at + GemvTrace.CODES]
                                    <= raw[at + GemvTrace.DOTS] && raw[at + GemvTrace.DOTS] <= raw[at + GemvTrace.END], "marks in order, group " + g);
                        }
                    }
                    DeviceBuffer small = device.allocate(MemoryCategory.WORKSPACE, 8L * GemvTrace.SLOTS * n - 8, "short trace");
                    try (small) {
                        MmfreeException e = assertThrows(MmfreeException.class, () -> bl.gemvTraced(w, in8, y, small));
                        assertTrue(e.getMessage().contains("trace"), e.getMessage());
                    }
                }
            }
        }
    }

    /**
     * A GEMV whose input codes outgrow what a work-item loads ahead of the weights (8 int4s): 32 work-items and two
     * projections of 9000 inputs stage 8 x 32 int4s first and load the other 884 after the weights.
     */
    @Test
    void gemvWithCodesPastTheFirstLoadsMatchesReferenceBitForBit() {
        Random r = new Random(20);
        for (int groups : new int[]{0, 2}) {
            try (BitLinearOpenCl bl = new BitLinearOpenCl(device, new Tiling(8, 4, 3, false), Optional.empty(), new GemvSchedule(groups, 0))) {
                gemmCase(bl, r, 2, 21, 9000, 1, groups == 0);
            }
        }
    }

    /** One row through a GEMV whose work-groups its schedule reshapes: a wide output, a narrow one with a long input, a tiny one. */
    private void reshapedGemvCases(BitLinearOpenCl bl, Random r, boolean accumulateWide) {
        gemmCase(bl, r, 3, 257, 1000, 1, accumulateWide);
        gemmCase(bl, r, 1, 70, 8300, 1, !accumulateWide);
        gemmCase(bl, r, 1, 5, 17, 1, false);
    }

    /**
     * The one-row GEMV on the blocked layouts (a block's chunks together), on every tiling, with one
     * work-group a row block and with fewer that take several, on inputs wider than a work-item loads
     * ahead; an instance built for chunk-major weights rejects blocked ones.
     */
    @Test
    void gemvOnBlockedLayoutsMatchesReferenceBitForBit() {
        Random r = new Random(15);
        for (Tiling tiling : tilings) {
            for (int blockRows : new int[]{16, 32, 64}) {
                for (int groups : new int[]{0, 3}) {
                    try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tiling, Optional.empty(), new GemvSchedule(groups, 0), blockRows)) {
                        gemmCase(bl, r, 3, 257, 1000, 1, groups == 0, blockRows);
                        gemmCase(bl, r, 1, 70, 8300, 1, groups != 0, blockRows);
                        gemmCase(bl, r, 2, 5, 17, 1, false, blockRows);
                    }
                }
            }
        }
        try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tilings[0])) {
            MmfreeException e = assertThrows(MmfreeException.class, () -> gemmCase(bl, r, 1, 70, 300, 1, false, 32));
            assertTrue(e.getMessage().contains("blocked by 0 rows, got blocks of 32"), e.getMessage());
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
        // on weights blocked by 64 and by 16 rows
        for (int blockRows : new int[]{64, 16}) {
            for (MmaShape shape : new MmaShape[]{MmaShape.DEFAULT, MmaShape.NARROW_DEFAULT, new MmaShape(1, 2, 4, 3)}) {
                try (BitLinearOpenCl bl = new BitLinearOpenCl(device, def, Optional.of(MmaShape.Choice.of(shape)),
                        GemvSchedule.forDevice(device.info()), blockRows)) {
                    for (int[] s : shapes) {
                        gemmCase(bl, r, s[0], s[1], s[2], 9, false, blockRows);
                        gemmCase(bl, r, s[0], s[1], s[2], 64, true, blockRows);
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

    private void gemmCase(BitLinearOpenCl bl, Random r, int projections, int out, int in, int rows, boolean accumulate) {
        gemmCase(bl, r, projections, out, in, rows, accumulate, 0);
    }

    private void gemmCase(BitLinearOpenCl bl, Random r, int projections, int out, int in, int rows, boolean accumulate, int blockRows) {
        String what = "gemm " + bl + " P " + projections + " [" + out + ", " + in + "] rows " + rows + (accumulate ? " +=" : "")
                + (blockRows > 0 ? " blocked " + blockRows : "");
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
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "w", blockRows, stack);
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
