package dev.mmfree.kernels.gemv;

import dev.mmfree.kernels.linear.LinearReference;
import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dense OpenCL kernels ({@link GemvOpenCl}: GEMV, GEMM, fused norm / residual / SwiGLU / rotary + KV
 * write, the embedding gather) against {@link LinearReference}, {@link RmsNormQuantReference#rmsNorm},
 * {@link SwiGluReference} and {@link RopeOracle}, each on the weights rounded to the storage type, so the
 * only difference left is float32 vs double summation: relative L2 at most {@value #TOL} (fp16 cache
 * entries: compared with the oracle's value rounded to fp16, at most {@value #TOL_F16_CACHE}, since a
 * float sum may round to the neighbouring half). Outputs are poisoned with NaN first; the gather is bit-exact.
 */
class GemvOpenClTest extends ClDeviceTest {
    private static final double TOL = 1e-5;
    private static final double TOL_F16_CACHE = 2e-4;
    private static final float EPS = 1e-6f;
    private static final int[][] SHAPES = {{5, 17}, {34, 100}, {70, 64}, {130, 257}};
    private static final int[] ROWS = {1, 3, 20};
    /** How a case runs: the GEMV, or the GEMM in that many K splits (3 > the K steps of the smallest shapes: empty splits). */
    private static final int GEMV = 0;
    private static final int[] MODES = {GEMV, 1, 3};

    private static void run(GemvOpenCl.Op op, int rows, int splits) {
        List<Launch> launches = splits == GEMV ? List.of(op.gemvLaunch()) : op.gemmLaunches(rows, splits);
        assertEquals(splits > 1 ? 2 : 1, launches.size(), "launches");
        for (Launch l : launches) {
            l.enqueue(device);
        }
    }

    /** The device's default shape, and the GPU default (without PTX) when that differs, for its index paths. */
    private static List<DenseShape> shapes() {
        DenseShape def = DenseShape.forDevice(device.info());
        DenseShape gpu = new DenseShape(256, 8, 64, 64, 32, 4, 4, false);
        return def.equals(gpu) ? List.of(def) : List.of(def, gpu);
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void splitPolicyFillsTheDeviceWithinTheScratch(Storage s) {
        Random r = new Random(25);
        int n = 40;
        int k = 1000;
        try (GemvOpenCl g = dense(s);
             DeviceDenseMatrix m = DeviceDenseMatrix.upload(device, s, "w", k, List.of(ClTesting.gaussian(r, n * k, 0.1f)), null);
             DeviceBuffer x = device.allocate(MemoryCategory.WORKSPACE, 4L * 64 * k, "x");
             DeviceBuffer y = device.allocate(MemoryCategory.WORKSPACE, 4L * 64 * n, "y");
             DeviceBuffer split = device.allocate(MemoryCategory.WORKSPACE, g.splitScratchBytes(), "split");
             GemvOpenCl.Op op = g.op(GemvOpenCl.Variant.PLAIN, m).input(x, 0, k).output(y)) {
            assertEquals(1, op.gemmSplits(8), "no scratch, no split");
            op.splitScratch(split);
            for (int rows : new int[]{1, 2, 8, 64}) {
                int splits = op.gemmSplits(rows);
                long steps = (m.kPad() + g.shape().tk() - 1) / g.shape().tk();
                assertTrue(splits >= 1 && splits <= Math.max(1, steps / 4), "splits " + splits + " for rows " + rows);
                assertTrue(4L * splits * rows * n <= split.bytes(), "scratch holds " + splits + " splits of " + rows + " rows");
                int tile = op.tileRows(rows);
                assertTrue(tile >= Math.min(rows, g.shape().tm()) && tile <= g.shape().tm() && tile % g.shape().mt() == 0,
                        "tile rows " + tile + " for " + rows);
            }
        }
    }

    private static GemvOpenCl dense(Storage s) {
        return new GemvOpenCl(device, s, DenseShape.forDevice(device.info()));
    }

    private static float[] rounded(Storage s, float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = s.round(a[i]);
        }
        return r;
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void linearNormAndResidualMatchReference(Storage s) {
        Random r = new Random(21);
        for (DenseShape ds : shapes()) {
            linearCases(new GemvOpenCl(device, s, ds), s, r);
        }
    }

    private void linearCases(GemvOpenCl dense, Storage s, Random r) {
        try (GemvOpenCl g = dense) {
            for (int[] shape : SHAPES) {
                int n = shape[0];
                int k = shape[1];
                float[] w = ClTesting.gaussian(r, n * k, 0.2f);
                float[] wr = rounded(s, w);
                float[] nw = ClTesting.normWeights(r, k);
                try (DeviceDenseMatrix m = DeviceDenseMatrix.upload(device, s, "w", k, List.of(w), null);
                     DeviceBuffer nwb = device.upload(MemoryCategory.WEIGHTS, "norm", nw)) {
                    for (int rows : ROWS) {
                        for (GemvOpenCl.Variant v : new GemvOpenCl.Variant[]{GemvOpenCl.Variant.PLAIN, GemvOpenCl.Variant.ADD, GemvOpenCl.Variant.NORM}) {
                            for (int splits : MODES) {
                                if (splits == GEMV && rows > 1) {
                                    continue;
                                }
                                linearCase(g, m, wr, nwb, nw, v, rows, splits, r);
                            }
                        }
                    }
                }
            }
        }
    }

    private void linearCase(GemvOpenCl g, DeviceDenseMatrix m, float[] wr, DeviceBuffer nwb, float[] nw,
                            GemvOpenCl.Variant v, int rows, int splits, Random r) {
        int n = m.n();
        int k = m.k();
        boolean gemm = splits != GEMV;
        String what = v.kernel(gemm ? "gemm" : "gemv", g.storage()) + " " + g.shape() + " [" + n + ", " + k + "] rows " + rows
                + (gemm ? " splits " + splits : "");
        // rows of x sit at xOff + row * stride, with a gap between rows: the head's last-position-only input
        int stride = gemm ? k + 3 : k;
        int xOff = 2;
        float[] x = ClTesting.gaussian(r, xOff + rows * stride, 1f);
        float[] y0 = ClTesting.gaussian(r, rows * n, 1f);
        float[] expect = new float[rows * n];
        float[] h = new float[k];
        for (int t = 0; t < rows; t++) {
            System.arraycopy(x, xOff + t * stride, h, 0, k);
            if (v.norm()) {
                RmsNormQuantReference.rmsNorm(h, 0, nw, h, 0, k, EPS);
            }
            System.arraycopy(y0, t * n, expect, t * n, n);
            LinearReference.forward(wr, n, k, h, 0, expect, t * n, v == GemvOpenCl.Variant.ADD);
        }
        try (DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer yb = ClTesting.poisoned(device, 4L * rows * n, "y");
             DeviceBuffer split = ClTesting.poisoned(device, 4L * Math.max(1, splits) * rows * n, "split-K sums");
             GemvOpenCl.Op op = g.op(v, m).input(xb, xOff, stride).output(yb).splitScratch(split)) {
            if (v == GemvOpenCl.Variant.ADD) {
                device.write(yb, y0);
            }
            if (v.norm()) {
                op.norm(nwb, EPS);
            }
            run(op, rows, splits);
            float[] got = new float[rows * n];
            device.read(yb, got);
            ClTesting.assertRelL2(what, expect, got, TOL);
        }
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void swigluEpilogueMatchesReference(Storage s) {
        Random r = new Random(22);
        try (GemvOpenCl g = dense(s)) {
            for (int[] shape : new int[][]{{3, 17}, {40, 96}, {65, 130}}) {
                int i = shape[0];
                int k = shape[1];
                float[] gate = ClTesting.gaussian(r, i * k, 0.2f);
                float[] up = ClTesting.gaussian(r, i * k, 0.2f);
                float[] nw = ClTesting.normWeights(r, k);
                try (DeviceDenseMatrix m = DeviceDenseMatrix.upload(device, s, "gate|up", k, List.of(gate, up),
                        DeviceDenseMatrix.interleaveOrder(i));
                     DeviceBuffer nwb = device.upload(MemoryCategory.WEIGHTS, "norm", nw)) {
                    for (int rows : ROWS) {
                        for (int splits : MODES) {
                            if (splits == GEMV && rows > 1) {
                                continue;
                            }
                            float[] x = ClTesting.gaussian(r, rows * k, 1f);
                            float[] expect = new float[rows * i];
                            float[] h = new float[k];
                            float[] gv = new float[i];
                            float[] uv = new float[i];
                            for (int t = 0; t < rows; t++) {
                                RmsNormQuantReference.rmsNorm(x, t * k, nw, h, 0, k, EPS);
                                LinearReference.forward(rounded(s, gate), i, k, h, 0, gv, 0, false);
                                LinearReference.forward(rounded(s, up), i, k, h, 0, uv, 0, false);
                                SwiGluReference.apply(gv, 0, uv, 0, expect, t * i, i);
                            }
                            try (DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
                                 DeviceBuffer yb = ClTesting.poisoned(device, 4L * rows * i, "act");
                                 DeviceBuffer split = ClTesting.poisoned(device, 8L * Math.max(1, splits) * rows * i, "split-K sums");
                                 GemvOpenCl.Op op = g.op(GemvOpenCl.Variant.NORM_SWIGLU, m).input(xb, 0, k).output(yb).norm(nwb, EPS)
                                         .splitScratch(split)) {
                                run(op, rows, splits);
                                float[] got = new float[rows * i];
                                device.read(yb, got);
                                ClTesting.assertRelL2("swiglu " + s + " i " + i + " k " + k + " rows " + rows + " mode " + splits,
                                        expect, got, TOL);
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void ropeKvEpilogueMatchesOracle(Storage s) {
        Random r = new Random(23);
        for (DenseShape ds : shapes()) {
            ropeCases(new GemvOpenCl(device, s, ds), r);
        }
    }

    private void ropeCases(GemvOpenCl dense, Random r) {
        try (GemvOpenCl g = dense) {
            // {H, KV, hd, k, b, tps, pos0}: GQA ratios 1 and 2, decode (one row) and prefill/batched rows
            int[][] cases = {{2, 2, 24, 96, 1, 1, 0}, {4, 2, 24, 96, 1, 1, 37}, {4, 2, 10, 33, 2, 5, 3},
                    {2, 2, 24, 50, 3, 1, 300}, {4, 2, 24, 96, 1, 12, 0}};
            for (int[] c : cases) {
                ropeCase(g, r, c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
            }
        }
    }

    private void ropeCase(GemvOpenCl g, Random r, int heads, int kvHeads, int hd, int k, int b, int tps, int pos0) {
        Storage s = g.storage();
        int qw = heads * hd;
        int kvw = kvHeads * hd;
        int rows = b * tps;
        int cap = pos0 + tps + 2;
        String what = "rope_kv " + s + " " + g.shape() + " H " + heads + " KV " + kvHeads + " hd " + hd + " k " + k + " b " + b + " tps " + tps + " pos0 " + pos0;
        float[] wq = ClTesting.gaussian(r, qw * k, 0.2f);
        float[] wk = ClTesting.gaussian(r, kvw * k, 0.2f);
        float[] wv = ClTesting.gaussian(r, kvw * k, 0.2f);
        float[] nw = ClTesting.normWeights(r, k);
        float[] x = ClTesting.gaussian(r, rows * k, 1f);
        float[] invFreq = RopeOracle.invFreq(hd, 10000);
        float[] expectQ = new float[rows * qw];
        float[] expectK = new float[b * cap * kvw];
        float[] expectV = new float[b * cap * kvw];
        float[] h = new float[k];
        float[] kv = new float[kvw];
        for (int row = 0; row < rows; row++) {
            int seq = row / tps;
            int pos = pos0 + row % tps;
            RmsNormQuantReference.rmsNorm(x, row * k, nw, h, 0, k, EPS);
            LinearReference.forward(rounded(s, wq), qw, k, h, 0, expectQ, row * qw, false);
            RopeOracle.rotate(expectQ, row * qw, heads, hd, invFreq, pos);
            LinearReference.forward(rounded(s, wk), kvw, k, h, 0, kv, 0, false);
            RopeOracle.rotate(kv, 0, kvHeads, hd, invFreq, pos);
            System.arraycopy(kv, 0, expectK, (seq * cap + pos) * kvw, kvw);
            LinearReference.forward(rounded(s, wv), kvw, k, h, 0, expectV, (seq * cap + pos) * kvw, false);
        }
        int[] order = DeviceDenseMatrix.ropePairOrder(heads + 2 * kvHeads, hd);
        long cacheBytes = (long) b * cap * kvw * s.bytes();
        try (DeviceDenseMatrix m = DeviceDenseMatrix.upload(device, s, "qkv", k, List.of(wq, wk, wv), order);
             DeviceBuffer nwb = device.upload(MemoryCategory.WEIGHTS, "norm", nw);
             DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer meta = device.upload(MemoryCategory.WORKSPACE, "meta", new int[]{pos0, tps, rows, 1});
             DeviceBuffer inv = device.upload(MemoryCategory.WEIGHTS, "invFreq", invFreq)) {
            for (int splits : MODES) {
                if (splits == GEMV && rows > 1) {
                    continue;
                }
                String mode = what + " mode " + splits;
                try (DeviceBuffer qb = ClTesting.poisoned(device, 4L * rows * qw, "q");
                     DeviceBuffer kc = poisonedCache(device, s, cacheBytes, "k cache");
                     DeviceBuffer vc = poisonedCache(device, s, cacheBytes, "v cache");
                     DeviceBuffer split = ClTesting.poisoned(device, 4L * Math.max(1, splits) * rows * m.n(), "split-K sums");
                     GemvOpenCl.Op op = g.op(GemvOpenCl.Variant.NORM_ROPE_KV, m).input(xb, 0, k).output(qb).norm(nwb, EPS)
                             .rope(meta, inv, kc, vc, heads, kvHeads, hd, cap).splitScratch(split)) {
                    run(op, rows, splits);
                    float[] gotQ = new float[rows * qw];
                    device.read(qb, gotQ);
                    ClTesting.assertRelL2(mode + " q", expectQ, gotQ, TOL);
                    checkCache(mode + " k", s, kc, expectK, b, cap, kvw, pos0, tps);
                    checkCache(mode + " v", s, vc, expectV, b, cap, kvw, pos0, tps);
                }
            }
        }
    }

    /** The written positions match (rounded to the storage type); every other position still holds the poison. */
    private void checkCache(String what, Storage s, DeviceBuffer cache, float[] expect, int b, int cap, int kvw, int pos0, int tps) {
        float[] got = readCache(device, s, cache, b * cap * kvw);
        List<Float> e = new ArrayList<>();
        List<Float> o = new ArrayList<>();
        for (int seq = 0; seq < b; seq++) {
            for (int p = 0; p < cap; p++) {
                for (int j = 0; j < kvw; j++) {
                    int at = (seq * cap + p) * kvw + j;
                    if (p >= pos0 && p < pos0 + tps) {
                        e.add(s.round(expect[at]));
                        o.add(got[at]);
                    } else {
                        assertTrue(Float.isNaN(got[at]), what + ": position " + p + " of sequence " + seq + " was written");
                    }
                }
            }
        }
        float[] ea = new float[e.size()];
        float[] oa = new float[o.size()];
        for (int i = 0; i < ea.length; i++) {
            ea[i] = e.get(i);
            oa[i] = o.get(i);
        }
        ClTesting.assertRelL2(what, ea, oa, s == Storage.F16 ? TOL_F16_CACHE : TOL);
    }

    /** Bits of two fp16 NaNs: an fp16 cache poisoned with them reads NaN at every element. */
    static final int POISON_F16_PAIR = 0x7e017e01;

    /** A cache filled with NaN in its own element type. */
    static DeviceBuffer poisonedCache(Device d, Storage s, long bytes, String role) {
        DeviceBuffer b = d.allocate(MemoryCategory.STATE, bytes, role);
        d.fill(b, s == Storage.F16 ? POISON_F16_PAIR : ClTesting.POISON);
        return b;
    }

    static float[] readCache(Device device, Storage s, DeviceBuffer cache, int count) {
        float[] got = new float[count];
        if (s == Storage.F32) {
            device.read(cache, 0, got, 0, count);
        } else {
            byte[] raw = new byte[2 * count];
            device.read(cache, 0, raw, 0, raw.length);
            for (int i = 0; i < count; i++) {
                got[i] = Float.float16ToFloat((short) ((raw[2 * i] & 0xff) | (raw[2 * i + 1] << 8)));
            }
        }
        return got;
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void gatherCopiesTableRowsExactly(Storage s) {
        Random r = new Random(24);
        int v = 37;
        int d = 29;
        float[] table = ClTesting.gaussian(r, v * d, 1f);
        int rows = 6;
        int[] meta = new int[4 + rows];
        for (int i = 0; i < rows; i++) {
            meta[4 + i] = r.nextInt(v);
        }
        meta[4] = v - 1;
        try (GemvOpenCl g = dense(s);
             DeviceDenseMatrix m = DeviceDenseMatrix.upload(device, s, "embed", d, List.of(table), null);
             DeviceBuffer ids = device.upload(MemoryCategory.WORKSPACE, "meta", meta);
             DeviceBuffer x = ClTesting.poisoned(device, 4L * rows * d, "x");
             GemvOpenCl.Gather gather = g.gather(m, ids, 4, x)) {
            gather.launch(rows).enqueue(device);
            float[] got = new float[rows * d];
            device.read(x, got);
            float[] expect = new float[rows * d];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < d; j++) {
                    expect[i * d + j] = s.round(table[meta[4 + i] * d + j]);
                }
            }
            ClTesting.assertExact("rows_gather " + s, expect, got);
        }
    }
}
