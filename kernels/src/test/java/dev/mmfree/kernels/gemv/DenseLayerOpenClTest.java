package dev.mmfree.kernels.gemv;

import dev.mmfree.kernels.attention.AttentionOpenCl;
import dev.mmfree.kernels.attention.AttentionOracle;
import dev.mmfree.kernels.linear.LinearReference;
import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.HostBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The one-launch Transformer++ decode layer ({@link DenseLayerOpenCl}) against a layer composed of the
 * oracles ({@link RmsNormQuantReference#rmsNorm}, {@link LinearReference} on the weights rounded to the storage
 * type, {@link RopeOracle}, {@link AttentionOracle}, {@link SwiGluReference}), on fresh random data: sizes that
 * are not multiples of 8 or of the work-group, rows longer than the words a lane loads ahead, one and several
 * work-groups, grouped and plain heads, a context
 * in one split and in several (so o_proj's staging merges them), and the key and value written at the step's position
 * read back in the same launch. Every output and the unwritten cache positions start poisoned with NaN.
 * Tolerance: relative L2 {@value #TOL} (fp32) or {@value #TOL_F16} (fp16: the key and value at the step's
 * position round to the neighbouring half where a float sum lands on the other side of a tie, as in
 * {@link GemvOpenClTest}).
 */
class DenseLayerOpenClTest extends ClDeviceTest {
    private static final double TOL = 2e-5;
    private static final double TOL_F16 = 2e-4;
    private static final float EPS = 1e-5f;
    private static final double THETA = 10000;

    /** A small CPU-sized work-group; the attention reads 4 positions a block, and splits take 3 or more. */
    private static final int WG = 64;
    private static final AttentionOpenCl.Shape ATTENTION = new AttentionOpenCl.Shape(WG, 4, 3);

    @ParameterizedTest
    @EnumSource(Storage.class)
    void layerMatchesTheOracles(Storage s) {
        Random r = new Random(61);
        DenseLayerOpenCl.Dims grouped = new DenseLayerOpenCl.Dims(37, 45, 4, 2, 8);
        DenseLayerOpenCl.Dims single = new DenseLayerOpenCl.Dims(70, 100, 2, 1, 16);
        // down_proj rows of 138 words: more than a lane's first LAYER_DEPTH words, and a partial last step
        DenseLayerOpenCl.Dims longRows = new DenseLayerOpenCl.Dims(24, 1100, 1, 1, 8);
        for (DenseLayerOpenCl.Dims dims : List.of(grouped, single, longRows)) {
            for (int groups : new int[]{1, 2}) {
                try (DenseLayerOpenCl layer = new DenseLayerOpenCl(device, s, dims, groups, WG, false, ATTENTION)) {
                    for (int pos0 : new int[]{0, 2, 9}) {
                        layerCase(layer, s, dims, r, pos0);
                    }
                }
            }
        }
        // qkv (24 rows) and gate|up (48) take a group of 8 rows at 8 lanes 2 and 3 passes, over rows of 160 words: they
        // load eight words a lane at once, and each lane's 20 words end on a round of four
        DenseLayerOpenCl.Dims deep = new DenseLayerOpenCl.Dims(1276, 24, 1, 1, 8);
        try (DenseLayerOpenCl layer = new DenseLayerOpenCl(device, s, deep, 2, WG, false, ATTENTION)) {
            assertEquals(1, layer.deep(deep.qkvRows(), deep.hidden()), "qkv");
            assertEquals(1, layer.deep(2 * deep.intermediate(), deep.hidden()), "gate|up");
            assertEquals(0, layer.deep(deep.hidden(), deep.intermediate()), "down_proj: 3 words a lane");
            for (int pos0 : new int[]{0, 9}) {
                layerCase(layer, s, deep, r, pos0);
            }
        }
        // 12 query heads on one kv head in 2 splits: the merge's 2 (heads S + heads) = 72 floats exceed red's 64, so
        // it goes element by element through attention_merge (the single case above merges 2 splits in red)
        DenseLayerOpenCl.Dims wideGroup = new DenseLayerOpenCl.Dims(40, 50, 12, 1, 8);
        try (DenseLayerOpenCl layer = new DenseLayerOpenCl(device, s, wideGroup, 2, WG, false, ATTENTION)) {
            assertEquals(2, layer.splits(10));
            layerCase(layer, s, wideGroup, r, 9);
        }
        // the diagnostic build with its clock marks computes the same layer, and every work-group stamps every mark
        try (DenseLayerOpenCl traced = new DenseLayerOpenCl(device, s, grouped, 2, WG, false, ATTENTION, true)) {
            layerCase(traced, s, grouped, r, 9);
        }
    }

    @Test
    void splitsFollowTheContextUpToOneTaskAWorkGroup() {
        try (DenseLayerOpenCl one = new DenseLayerOpenCl(device, Storage.F32, new DenseLayerOpenCl.Dims(37, 45, 4, 2, 8), 2, WG, false, ATTENTION);
             DenseLayerOpenCl many = new DenseLayerOpenCl(device, Storage.F32, new DenseLayerOpenCl.Dims(37, 45, 4, 1, 8), 8, WG, false, ATTENTION)) {
            assertEquals(1, one.splits(3), "a context within the fewest positions of a split");
            assertEquals(1, one.splits(100), "two work-groups over two kv heads: one split");
            assertEquals(1, many.splits(3));
            assertEquals(2, many.splits(4));
            assertEquals(4, many.splits(12));
            assertEquals(8, many.splits(1000), "at most one task a work-group");
            assertTrue(many.partialBytes() >= 4L * 8 * 4 * (8 + 2), "split results for 8 splits");
        }
    }

    @Test
    void lanesCoverAWorkGroupsRowsInOnePassWhereTheyCan() {
        try (DenseLayerOpenCl l = new DenseLayerOpenCl(device, Storage.F32, new DenseLayerOpenCl.Dims(37, 45, 4, 2, 8), 2, WG, false, ATTENTION)) {
            assertEquals(16, l.lanes(4), "2 rows a group would fill 64 / 32 exactly: 16 lanes");
            assertEquals(8, l.lanes(8), "4 rows a group would fill 64 / 16 exactly: 8 lanes");
            assertEquals(8, l.lanes(16), "8 rows a group fill 64 / 8");
            assertEquals(8, l.lanes(1000), "wide: 8 lanes, several passes");
            assertEquals(0, l.deep(16, 2048), "8 rows: one pass");
            assertEquals(1, l.deep(20, 2048), "10 rows: two passes of 8, 32 words a lane");
            assertEquals(0, l.deep(20, 512), "8 words a lane: one round");
        }
    }

    @Test
    void lanesReachAWarpWhereRowsLeaveSlotsToSpare() {
        try (DenseLayerOpenCl l = new DenseLayerOpenCl(device, Storage.F32, new DenseLayerOpenCl.Dims(37, 45, 4, 2, 8), 2, 256, false,
                new AttentionOpenCl.Shape(256, 4, 3))) {
            assertEquals(32, l.lanes(4), "2 rows a group of 8 slots at 32 lanes");
            assertEquals(16, l.lanes(16), "8 rows would fill 256 / 32 exactly");
            assertEquals(16, l.lanes(20), "10 rows: 16 slots at 16 lanes");
        }
    }

    @Test
    void badShapesAndWorkGroupsAreNamed() {
        DenseLayerOpenCl.Dims dims = new DenseLayerOpenCl.Dims(37, 45, 4, 2, 8);
        var e = assertThrows(MmfreeException.class, () -> new DenseLayerOpenCl(device, Storage.F32, dims, 2, 96, false, ATTENTION));
        assertTrue(e.getMessage().contains("work-group 96"), e.getMessage());
        e = assertThrows(MmfreeException.class, () -> new DenseLayerOpenCl(device, Storage.F32, dims, 0, WG, false, ATTENTION));
        assertTrue(e.getMessage().contains("groups"), e.getMessage());
        e = assertThrows(MmfreeException.class, () -> new DenseLayerOpenCl.Dims(37, 45, 4, 3, 8));
        assertTrue(e.getMessage().contains("KV 3"), e.getMessage());
        Random r = new Random(3);
        try (DenseLayerOpenCl layer = new DenseLayerOpenCl(device, Storage.F32, dims, 1, WG, false, ATTENTION);
             DeviceDenseMatrix wrong = DeviceDenseMatrix.upload(device, Storage.F32, "o", 37, List.of(ClTesting.gaussian(r, 37 * 37, 1f)), null);
             DeviceBuffer b = device.allocate(MemoryCategory.WORKSPACE, 1 << 16, "any")) {
            var w = new DenseLayerOpenCl.Weights(b, wrong, wrong, b, wrong, wrong);
            e = assertThrows(MmfreeException.class, () -> layer.op(w, EPS, b, b, b, b, b, b, b, b, b, 4));
            assertTrue(e.getMessage().contains("qkv"), e.getMessage());
        }
    }

    private void layerCase(DenseLayerOpenCl layer, Storage s, DenseLayerOpenCl.Dims dims, Random r, int pos0) {
        int d = dims.hidden();
        int in = dims.intermediate();
        int heads = dims.heads();
        int kvHeads = dims.kvHeads();
        int hd = dims.headDim();
        int qw = heads * hd;
        int kvw = kvHeads * hd;
        int cap = pos0 + 3;
        int splits = layer.splits(pos0 + 1);
        String what = s + " " + dims + " groups " + layer.groups() + " pos0 " + pos0 + " splits " + splits;

        float[] wq = ClTesting.gaussian(r, qw * d, 0.2f);
        float[] wk = ClTesting.gaussian(r, kvw * d, 0.2f);
        float[] wv = ClTesting.gaussian(r, kvw * d, 0.2f);
        float[] wo = ClTesting.gaussian(r, d * qw, 0.2f);
        float[] wg = ClTesting.gaussian(r, in * d, 0.2f);
        float[] wu = ClTesting.gaussian(r, in * d, 0.2f);
        float[] wd = ClTesting.gaussian(r, d * in, 0.1f);
        float[] inNorm = ClTesting.normWeights(r, d);
        float[] postNorm = ClTesting.normWeights(r, d);
        float[] x = ClTesting.gaussian(r, d, 1f);
        float[] invFreq = RopeOracle.invFreq(hd, THETA);
        // earlier positions hold values of the storage type; positions from pos0 on hold NaN
        float[] keys = new float[cap * kvw];
        float[] values = new float[cap * kvw];
        for (int i = 0; i < keys.length; i++) {
            boolean filled = i < pos0 * kvw;
            keys[i] = filled ? s.round((float) r.nextGaussian()) : Float.NaN;
            values[i] = filled ? s.round((float) r.nextGaussian()) : Float.NaN;
        }

        // the oracle layer
        float[] h = new float[d];
        RmsNormQuantReference.rmsNorm(x, 0, inNorm, h, 0, d, EPS);
        float[] q = new float[qw];
        LinearReference.forward(rounded(s, wq), qw, d, h, 0, q, 0, false);
        RopeOracle.rotate(q, 0, heads, hd, invFreq, pos0);
        float[] k = new float[kvw];
        LinearReference.forward(rounded(s, wk), kvw, d, h, 0, k, 0, false);
        RopeOracle.rotate(k, 0, kvHeads, hd, invFreq, pos0);
        float[] v = new float[kvw];
        LinearReference.forward(rounded(s, wv), kvw, d, h, 0, v, 0, false);
        float[] expectK = keys.clone();
        float[] expectV = values.clone();
        for (int j = 0; j < kvw; j++) {
            expectK[pos0 * kvw + j] = s.round(k[j]);
            expectV[pos0 * kvw + j] = s.round(v[j]);
        }
        float[] attn = AttentionOracle.attend(q, expectK, expectV, 1, 1, pos0, cap, heads, kvHeads, hd);
        float[] expectX = x.clone();
        LinearReference.forward(rounded(s, wo), d, qw, attn, 0, expectX, 0, true);
        RmsNormQuantReference.rmsNorm(expectX, 0, postNorm, h, 0, d, EPS);
        float[] gate = new float[in];
        float[] up = new float[in];
        LinearReference.forward(rounded(s, wg), in, d, h, 0, gate, 0, false);
        LinearReference.forward(rounded(s, wu), in, d, h, 0, up, 0, false);
        float[] act = new float[in];
        SwiGluReference.apply(gate, 0, up, 0, act, 0, in);
        LinearReference.forward(rounded(s, wd), d, in, act, 0, expectX, 0, true);

        MemoryCategory wt = MemoryCategory.WEIGHTS;
        try (DeviceDenseMatrix qkvM = DeviceDenseMatrix.upload(device, s, "qkv", d, List.of(wq, wk, wv),
                DeviceDenseMatrix.ropePairOrder(heads + 2 * kvHeads, hd));
             DeviceDenseMatrix oM = DeviceDenseMatrix.upload(device, s, "o", qw, List.of(wo), null);
             DeviceDenseMatrix guM = DeviceDenseMatrix.upload(device, s, "gate|up", d, List.of(wg, wu), DeviceDenseMatrix.interleaveOrder(in));
             DeviceDenseMatrix downM = DeviceDenseMatrix.upload(device, s, "down", in, List.of(wd), null);
             DeviceBuffer inB = device.upload(wt, "input norm", inNorm);
             DeviceBuffer postB = device.upload(wt, "post norm", postNorm);
             DeviceBuffer inv = device.upload(wt, "inv_freq", invFreq);
             DeviceBuffer meta = device.upload(MemoryCategory.WORKSPACE, "meta", new int[]{pos0, 1, 1, splits});
             DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer qb = ClTesting.poisoned(device, 4L * qw, "q");
             DeviceBuffer attnB = ClTesting.poisoned(device, 4L * qw, "attn");
             DeviceBuffer actB = ClTesting.poisoned(device, 4L * in, "act");
             DeviceBuffer part = ClTesting.poisoned(device, layer.partialBytes(), "split results");
             DeviceBuffer kc = cache(s, keys, "keys");
             DeviceBuffer vc = cache(s, values, "values");
             DenseLayerOpenCl.Op op = layer.op(new DenseLayerOpenCl.Weights(inB, qkvM, oM, postB, guM, downM), EPS, inv,
                     meta, xb, qb, attnB, actB, part, kc, vc, cap)) {
            if (layer.traced()) {
                device.fill(op.trace(), 0x5a5a5a5a);
            }
            Launch launch = op.launch();
            launch.enqueue(device);
            if (layer.traced()) {
                // without inline PTX (this test's build) a mark writes zeros: poison left over is a mark not stamped
                byte[] raw = new byte[(int) op.trace().bytes()];
                device.read(op.trace(), raw);
                assertEquals(16L * layer.groups() * DenseLayerOpenCl.TRACE_MARKS, raw.length, what + ": trace bytes");
                for (int i = 0; i < raw.length; i++) {
                    assertEquals(0, raw[i], what + ": trace byte " + i + " (group " + i / (16 * DenseLayerOpenCl.TRACE_MARKS)
                            + ", mark " + i / 16 % DenseLayerOpenCl.TRACE_MARKS + ")");
                }
            }
            try (HostBuffer flag = device.allocateHost(4, "flag")) {
                flag.bytes().putInt(0, -1);
                DeviceEvent read = layer.readSync(flag.bytes());
                read.await();
                read.close();
                assertEquals(0, flag.bytes().getInt(0), what + ": the barriers' flag");
                flag.bytes().putInt(0, 1);   // as a barrier that gave up leaves it
                assertThrows(DeviceException.class, () -> layer.checkSync(flag.bytes()), what + ": a set flag");
            }
            layer.checkSync();
            double tol = s == Storage.F16 ? TOL_F16 : TOL;
            ClTesting.assertRelL2(what + " q", q, read(qb, qw), TOL);
            ClTesting.assertRelL2(what + " act", act, read(actB, in), tol);
            ClTesting.assertRelL2(what + " x", expectX, read(xb, d), tol);
            float[] gotK = GemvOpenClTest.readCache(device, s, kc, cap * kvw);
            float[] gotV = GemvOpenClTest.readCache(device, s, vc, cap * kvw);
            for (int i = 0; i < cap * kvw; i++) {
                int p = i / kvw;
                if (p != pos0) {
                    assertSame(keys[i], gotK[i], what + ": key " + i + " (position " + p + ") changed");
                    assertSame(values[i], gotV[i], what + ": value " + i + " (position " + p + ") changed");
                }
            }
            ClTesting.assertRelL2(what + " key at pos0", slice(expectK, pos0 * kvw, kvw), slice(gotK, pos0 * kvw, kvw), tol);
            ClTesting.assertRelL2(what + " value at pos0", slice(expectV, pos0 * kvw, kvw), slice(gotV, pos0 * kvw, kvw), tol);
        }
    }

    /** The same value, or NaN for NaN (an fp16 NaN read back need not keep the float NaN's bits). */
    private static void assertSame(float expect, float got, String what) {
        if (Float.isNaN(expect)) {
            assertTrue(Float.isNaN(got), what + ": " + got);
        } else {
            assertEquals(Float.floatToIntBits(expect), Float.floatToIntBits(got), what);
        }
    }

    /** A cache [1, cap, KV*hd] in the storage type holding {@code values} (NaN where they are NaN). */
    private static DeviceBuffer cache(Storage s, float[] values, String role) {
        DeviceBuffer b = GemvOpenClTest.poisonedCache(device, s, (long) values.length * s.bytes(), role);
        if (s == Storage.F32) {
            device.write(b, values);
        } else {
            byte[] raw = new byte[2 * values.length];
            for (int i = 0; i < values.length; i++) {
                short h = Float.floatToFloat16(values[i]);
                raw[2 * i] = (byte) h;
                raw[2 * i + 1] = (byte) (h >> 8);
            }
            device.write(b, 0, raw, 0, raw.length);
        }
        return b;
    }

    private static float[] rounded(Storage s, float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = s.round(a[i]);
        }
        return r;
    }

    private static float[] slice(float[] a, int from, int n) {
        float[] r = new float[n];
        System.arraycopy(a, from, r, 0, n);
        return r;
    }

    private static float[] read(DeviceBuffer b, int n) {
        float[] a = new float[n];
        device.read(b, 0, a, 0, n);
        return a;
    }
}
