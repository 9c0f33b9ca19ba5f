package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.mlgru.MlgruOpenCl;
import dev.mmfree.kernels.mlgru.MlgruReference;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluOpenCl;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.opencl.OpenCl;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * GPU harness of the HGRNBit decode kernels at the 2.7B shapes (d 2560, I 6912, V 32000): each variant
 * is validated against the Java reference, warmed up, then timed with device events (median of
 * --iters); GB/s counts the bytes a launch must move (packed weights in the device layout, plus its
 * vectors) and is set against a float4 copy measured in the same run. Also: the cost of an empty
 * launch back to back, and one layer's fused launches back to back (wall clock), which bound
 * tokens/s at batch 1.
 *
 * <pre>
 *   java -cp runtime.jar:kernels.jar:jocl.jar dev.mmfree.kernels.bitlinear.BitLinearOpenClBench \
 *        [--device gpu] [--iters 50] [--tiling 32x8x8] [--narrow-tiling 16x16x8] [--ptx 0|1] [--copy-mib 512] [--quick]
 * </pre>
 * Prints one JSON line per result, then a table: variant | shape | ms | GB/s | % of copy.
 * Variants: gemm-tN = {@value BitLinearOpenCl#GEMM} on N quantized rows; norm2 = the fused double
 * norm GEMV; mlgru = the fused MLGRU step + o_proj; swiglu = SwiGLU fused into down_proj.
 */
public final class BitLinearOpenClBench {
    private record Result(String variant, String shape, double ms, double gbps, double pctCopy, double wallMs) {
    }

    private static final int[] CODES = {0b00, 0b01, 0b11};
    /** Rows of a GEMM checked against the reference (the Java reference is slow at t = 64). */
    private static final int CHECKED_ROWS = 4;

    private final Device device;
    private final Tiling tiling;
    private final Tiling narrow;
    private final int iters;
    private final SplittableRandom rnd = new SplittableRandom(7);
    private final List<Result> results = new ArrayList<>();
    private final String context;
    private double copyGbps = Double.NaN;

    private BitLinearOpenClBench(Device device, Tiling tiling, Tiling narrow, int iters) {
        this.device = device;
        this.tiling = tiling;
        this.narrow = narrow;
        this.iters = iters;
        this.context = String.format(Locale.ROOT, "\"device\":\"%s\",\"driver\":\"%s\",\"tiling\":\"%s narrow %s\",\"commit\":\"%s\",\"jvm\":\"%s\"",
                device.info().name(), device.info().driverVersion(), tiling, narrow, System.getenv().getOrDefault("MMFREE_COMMIT", "unknown"),
                String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()).replace("\"", "'"));
    }

    public static void main(String[] args) {
        String selector = null;
        String tilingSpec = null;
        String narrowSpec = null;
        int iters = 50;
        int copyMib = 512;
        boolean quick = false;
        Boolean ptx = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--device" -> selector = args[++i];
                case "--iters" -> iters = Integer.parseInt(args[++i]);
                case "--tiling" -> tilingSpec = args[++i];
                case "--narrow-tiling" -> narrowSpec = args[++i];
                case "--copy-mib" -> copyMib = Integer.parseInt(args[++i]);
                case "--quick" -> quick = true;
                case "--ptx" -> ptx = args[++i].equals("1");
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: [--device SEL] [--iters N] [--tiling RxSxT] [--narrow-tiling RxSxT] [--ptx 0|1] [--copy-mib N] [--quick]");
            }
        }
        OpenCl.unavailableReason().ifPresent(r -> {
            throw new IllegalStateException("OpenCL unavailable: " + r);
        });
        try (Device device = OpenCl.open(selector, true)) {
            Tiling def = Tiling.forDevice(device.info());
            boolean usePtx = ptx == null ? def.ptx() : ptx;
            Tiling tiling = tilingSpec == null ? new Tiling(def.rows(), def.slices(), def.tokens(), usePtx)
                    : Tiling.parse(tilingSpec, usePtx);
            Tiling defNarrow = Tiling.narrowForDevice(device.info());
            Tiling narrow = narrowSpec == null ? new Tiling(defNarrow.rows(), defNarrow.slices(), defNarrow.tokens(), usePtx)
                    : Tiling.parse(narrowSpec, usePtx);
            System.out.println("# " + device.info() + " tiling " + tiling + ", narrow (mlgru, swiglu) " + narrow);
            new BitLinearOpenClBench(device, tiling, narrow, quick ? 3 : iters).run(quick ? 16 : copyMib, quick);
        }
    }

    private void run(int copyMib, boolean quick) {
        copy(copyMib);
        launchCost();
        int d = quick ? 256 : 2560;
        int i = quick ? 512 : 6912;
        int v = quick ? 1000 : 32000;
        try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tiling);
             MlgruOpenCl mlgru = new MlgruOpenCl(device, narrow);
             SwiGluOpenCl swiglu = new SwiGluOpenCl(device, narrow)) {
            norm2(bl, 3, d, d, "ifg");
            mlgru(mlgru, d);
            norm2(bl, 1, 2 * i, d, "gate_up");
            swiglu(swiglu, d, i);
            norm2(bl, 1, v, d, "head");
            for (int t : new int[]{1, 8, 64}) {
                gemm(bl, 3, d, d, t);
                gemm(bl, 1, 2 * i, d, t);
                gemm(bl, 1, d, i, t);
            }
            gemm(bl, 1, v, d, 1);
            layer(bl, mlgru, swiglu, d, i);
        }
        System.out.println();
        System.out.println("variant | shape | ms | GB/s | % of copy | wall ms/launch");
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "%s | %s | %.4f | %.1f | %.1f | %.4f%n", r.variant, r.shape, r.ms, r.gbps, r.pctCopy, r.wallMs);
        }
    }

    private void record(String variant, String shape, double ms, double bytes, double wallMs) {
        double gbps = bytes > 0 ? bytes / (ms * 1e-3) / 1e9 : 0;
        Result r = new Result(variant, shape, ms, gbps, 100 * gbps / copyGbps, wallMs);
        results.add(r);
        System.out.printf(Locale.ROOT, "{\"variant\":\"%s\",\"shape\":\"%s\",\"ms\":%.5f,\"gbps\":%.2f,\"pct_copy\":%.2f,\"wall_ms\":%.5f,\"bytes\":%.0f,%s}%n",
                variant, shape, ms, gbps, r.pctCopy, wallMs, bytes, context);
    }

    /** Median device time of iters launches after warm-up, and the wall-clock mean of iters back to back. */
    private double[] time(Launch l) {
        for (int w = 0; w < 3; w++) {
            l.enqueue(device);
        }
        device.synchronize();
        double[] ms = new double[iters];
        for (int k = 0; k < iters; k++) {
            try (DeviceEvent e = l.enqueueTimed(device)) {
                ms[k] = e.elapsedNanos() / 1e6;
            }
        }
        Arrays.sort(ms);
        long t0 = System.nanoTime();
        for (int k = 0; k < iters; k++) {
            l.enqueue(device);
        }
        device.synchronize();
        double wall = (System.nanoTime() - t0) / 1e6 / iters;
        return new double[]{ms[iters / 2], wall};
    }

    private void copy(int mib) {
        long bytes = (long) mib << 20;
        try (var p = device.build("copy", ClPrograms.resource("bitlinear/copy_f32x4.cl"), "");
             DeviceBuffer a = device.allocate(MemoryCategory.WORKSPACE, bytes, "copy a");
             DeviceBuffer b = device.allocate(MemoryCategory.WORKSPACE, bytes, "copy b");
             Launch l = new Launch(p.kernel("copy_f32x4").args(a, b), new long[]{bytes / 16}, new long[]{256})) {
            device.fill(a, 0x3f800000);
            double[] t = time(l);
            copyGbps = 2.0 * bytes / (t[0] * 1e-3) / 1e9;
            record("copy_f32x4", mib + " MiB", t[0], 2.0 * bytes, t[1]);
        }
    }

    private void launchCost() {
        try (var p = device.build("copy", ClPrograms.resource("bitlinear/copy_f32x4.cl"), "");
             DeviceBuffer sink = device.allocate(MemoryCategory.WORKSPACE, 4, "sink");
             Launch l = new Launch(p.kernel("empty_launch").args(sink), new long[]{256}, new long[]{256})) {
            double[] t = time(l);
            record("empty_launch", "256", t[0], 0, t[1]);
        }
    }

    /** Random ternary codes straight into the reference packing (fast at 2.7B sizes). */
    private TernaryMatrix random(int out, int in) {
        int wpr = TernaryMatrix.wordsPerRow(in);
        int[] codes = new int[out * wpr];
        for (int r = 0; r < out; r++) {
            for (int k = 0; k < wpr; k++) {
                int word = 0;
                int n = Math.min(16, in - 16 * k);
                for (int j = 0; j < n; j++) {
                    word |= CODES[rnd.nextInt(3)] << (2 * j);
                }
                codes[r * wpr + k] = word;
            }
        }
        return new TernaryMatrix(out, in, codes, 0.02f + 0.01f * (float) rnd.nextDouble());
    }

    private float[] gaussian(int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextDouble(-1, 1) * scale);
        }
        return a;
    }

    private float[] norms(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextDouble(0.5, 1.5);
        }
        return a;
    }

    private static long weightBytes(DeviceTernaryMatrix w) {
        return 16L * w.chunks() * w.rowsPad();
    }

    private static double relL2(float[] ref, float[] got) {
        double e = 0;
        double n = 0;
        for (int i = 0; i < ref.length; i++) {
            e += (got[i] - (double) ref[i]) * (got[i] - (double) ref[i]);
            n += (double) ref[i] * ref[i];
        }
        return Math.sqrt(e / n);
    }

    /** False (and a FAILED line) when the device's result is off; the variant is then not timed. */
    private boolean validate(String variant, String shape, float[] ref, float[] got, double tol) {
        double rel = relL2(ref, got);
        if (rel <= tol) {
            return true;
        }
        System.out.printf(Locale.ROOT, "{\"variant\":\"%s\",\"shape\":\"%s\",\"failed\":\"rel L2 %.3e > %.1e\",%s}%n",
                variant, shape, rel, tol, context);
        results.add(new Result(variant + " FAILED", shape, Double.NaN, Double.NaN, Double.NaN, Double.NaN));
        return false;
    }

    private void norm2(BitLinearOpenCl bl, int projections, int out, int in, String name) {
        TernaryMatrix[] stack = new TernaryMatrix[projections];
        for (int p = 0; p < projections; p++) {
            stack[p] = random(out, in);
        }
        float[] x = gaussian(in, 3);
        float[] n1 = norms(in);
        float[] n2 = norms(projections * in);
        float[] h = new float[in];
        RmsNormQuantReference.rmsNorm(x, 0, n1, h, 0, in, 1e-6);
        float[] ref = new float[projections * out];
        for (int p = 0; p < projections; p++) {
            byte[] q = new byte[in];
            float[] f = {RmsNormQuantReference.normQuantize(h, 0, Arrays.copyOfRange(n2, p * in, (p + 1) * in), q, 0, in, new float[in])};
            float[] y = new float[out];
            BitLinearReference.forward(stack[p], q, f, 1, y, false);
            System.arraycopy(y, 0, ref, p * out, out);
        }
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, name, stack);
             DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer n1b = device.upload(MemoryCategory.WEIGHTS, "norm1", n1);
             DeviceBuffer n2b = device.upload(MemoryCategory.WEIGHTS, "norm2", n2);
             DeviceBuffer y = device.allocate(MemoryCategory.WORKSPACE, 4L * ref.length, "y");
             Launch l = bl.norm2(w, xb, n1b, 1e-6f, n2b, 1e-6f, y, false)) {
            l.enqueue(device);
            float[] got = new float[ref.length];
            device.read(y, got);
            String shape = in + "->" + projections + "x" + out + " " + name;
            if (!validate("norm2", shape, ref, got, 1e-5)) {
                return;
            }
            double[] t = time(l);
            record("norm2", shape, t[0],
                    weightBytes(w) + 4.0 * (in * (2 + projections) + ref.length), t[1]);
        }
    }

    private void mlgru(MlgruOpenCl k, int d) {
        TernaryMatrix oProj = random(d, d);
        float[] ifg = gaussian(3 * d, 2);
        float[] lb = norms(d);
        for (int j = 0; j < d; j++) {
            lb[j] *= 0.5f;
        }
        float[] s0 = gaussian(d, 1);
        float[] gn = norms(d);
        float[] on = norms(d);
        float[] state = s0.clone();
        float[] o = new float[d];
        MlgruReference.step(Arrays.copyOfRange(ifg, 0, d), Arrays.copyOfRange(ifg, d, 2 * d), Arrays.copyOfRange(ifg, 2 * d, 3 * d),
                0, lb, gn, 1e-6, state, o, d);
        byte[] q = new byte[d];
        float[] f = {RmsNormQuantReference.normQuantize(o, 0, on, q, 0, d, new float[d])};
        float[] ref = new float[d];
        BitLinearReference.forward(oProj, q, f, 1, ref, false);
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "o_proj", oProj);
             DeviceBuffer ifgB = device.upload(MemoryCategory.WORKSPACE, "ifg", ifg);
             DeviceBuffer lbB = device.upload(MemoryCategory.WEIGHTS, "lb", lb);
             DeviceBuffer in = device.upload(MemoryCategory.STATE, "state in", s0);
             DeviceBuffer out = device.allocate(MemoryCategory.STATE, 4L * d, "state out");
             DeviceBuffer gnB = device.upload(MemoryCategory.WEIGHTS, "g_norm", gn);
             DeviceBuffer onB = device.upload(MemoryCategory.WEIGHTS, "o norm", on);
             DeviceBuffer y = device.allocate(MemoryCategory.WORKSPACE, 4L * d, "y");
             Launch l = k.fusedStep(ifgB, lbB, in, out, gnB, 1e-6f, onB, 1e-6f, w, y, false)) {
            l.enqueue(device);
            float[] got = new float[d];
            device.read(y, got);
            if (!validate("mlgru", d + "->" + d + " o_proj", ref, got, 1e-5)) {
                return;
            }
            double[] t = time(l);
            record("mlgru", d + "->" + d + " o_proj", t[0], weightBytes(w) + 4.0 * 9 * d, t[1]);
        }
    }

    private void swiglu(SwiGluOpenCl k, int d, int i) {
        TernaryMatrix down = random(d, i);
        float[] gu = gaussian(2 * i, 2);
        float[] norm = norms(i);
        float[] v = new float[i];
        SwiGluReference.apply(gu, 0, gu, i, v, 0, i);
        byte[] q = new byte[i];
        float[] f = {RmsNormQuantReference.normQuantize(v, 0, norm, q, 0, i, new float[i])};
        float[] ref = new float[d];
        BitLinearReference.forward(down, q, f, 1, ref, false);
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "down", down);
             DeviceBuffer guB = device.upload(MemoryCategory.WORKSPACE, "gu", gu);
             DeviceBuffer nB = device.upload(MemoryCategory.WEIGHTS, "down norm", norm);
             DeviceBuffer y = device.allocate(MemoryCategory.WORKSPACE, 4L * d, "y");
             Launch l = k.fusedDown(guB, nB, 1e-6f, w, y, false)) {
            l.enqueue(device);
            float[] got = new float[d];
            device.read(y, got);
            if (!validate("swiglu", i + "->" + d + " down", ref, got, 1e-5)) {
                return;
            }
            double[] t = time(l);
            record("swiglu", i + "->" + d + " down", t[0], weightBytes(w) + 4.0 * (3 * i + d), t[1]);
        }
    }

    private void gemm(BitLinearOpenCl bl, int projections, int out, int in, int rows) {
        TernaryMatrix[] stack = new TernaryMatrix[projections];
        for (int p = 0; p < projections; p++) {
            stack[p] = random(out, in);
        }
        int kPad = QuantizedInput.kPad(in);
        byte[] q = new byte[projections * rows * kPad];
        float[] factor = new float[projections * rows];
        int[] qsum = new int[projections * rows];
        int checked = Math.min(rows, CHECKED_ROWS);
        float[] ref = new float[checked * projections * out];
        for (int p = 0; p < projections; p++) {
            byte[] qp = new byte[rows * in];
            float[] fp = new float[rows];
            for (int t = 0; t < rows; t++) {
                fp[t] = 0.01f;
                factor[p * rows + t] = fp[t];
                for (int j = 0; j < in; j++) {
                    byte b = (byte) rnd.nextInt(-128, 128);
                    qp[t * in + j] = b;
                    q[(p * rows + t) * kPad + j] = b;
                    qsum[p * rows + t] += b;
                }
            }
            float[] y = new float[checked * out];
            BitLinearReference.forward(stack[p], qp, fp, checked, y, false);
            for (int t = 0; t < checked; t++) {
                System.arraycopy(y, t * out, ref, t * projections * out + p * out, out);
            }
        }
        Supplier<String> shape = () -> in + "->" + (projections > 1 ? projections + "x" : "") + out + " t" + rows;
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "w", stack);
             QuantizedInput qi = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "q", projections, rows, in);
             DeviceBuffer y = device.allocate(MemoryCategory.WORKSPACE, 4L * rows * projections * out, "y")) {
            device.write(qi.q(), q);
            device.write(qi.factor(), factor);
            device.write(qi.qsum(), qsum);
            try (Launch l = bl.gemm(w, qi, rows, y, false)) {
                l.enqueue(device);
                float[] got = new float[ref.length];
                device.read(y, got);
                if (!validate("gemm-t" + rows, shape.get(), ref, got, 1e-6)) {
                    return;
                }
                double[] t = time(l);
                record("gemm-t" + rows, shape.get(), t[0], weightBytes(w) + (double) q.length + 4.0 * rows * projections * out, t[1]);
            }
        }
    }

    /** One layer's four fused decode launches back to back (random weights), wall clock per layer. */
    private void layer(BitLinearOpenCl bl, MlgruOpenCl mlgru, SwiGluOpenCl swiglu, int d, int i) {
        try (DeviceTernaryMatrix ifg = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "ifg", random(d, d), random(d, d), random(d, d));
             DeviceTernaryMatrix o = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "o", random(d, d));
             DeviceTernaryMatrix gate = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "gate", random(2 * i, d));
             DeviceTernaryMatrix down = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "down", random(d, i));
             DeviceBuffer x = device.upload(MemoryCategory.WORKSPACE, "x", gaussian(d, 1));
             DeviceBuffer nd = device.upload(MemoryCategory.WEIGHTS, "norm d", norms(d));
             DeviceBuffer n3 = device.upload(MemoryCategory.WEIGHTS, "norm 3d", norms(3 * d));
             DeviceBuffer ni = device.upload(MemoryCategory.WEIGHTS, "norm i", norms(i));
             DeviceBuffer lb = device.upload(MemoryCategory.WEIGHTS, "lb", new float[d]);
             DeviceBuffer s0 = device.upload(MemoryCategory.STATE, "s0", new float[d]);
             DeviceBuffer s1 = device.upload(MemoryCategory.STATE, "s1", new float[d]);
             DeviceBuffer ifgY = device.allocate(MemoryCategory.WORKSPACE, 12L * d, "ifg y");
             DeviceBuffer gu = device.allocate(MemoryCategory.WORKSPACE, 8L * i, "gu");
             Launch a = bl.norm2(ifg, x, nd, 1e-6f, n3, 1e-6f, ifgY, false);
             Launch b = mlgru.fusedStep(ifgY, lb, s0, s1, nd, 1e-6f, nd, 1e-6f, o, x, true);
             Launch c = bl.norm2(gate, x, nd, 1e-6f, nd, 1e-6f, gu, false);
             Launch e = swiglu.fusedDown(gu, ni, 1e-6f, down, x, true)) {
            Launch[] seq = {a, b, c, e};
            for (Launch l : seq) {
                l.enqueue(device);
            }
            device.synchronize();
            double sum = 0;
            for (Launch l : seq) {
                sum += time(l)[0];
            }
            long t0 = System.nanoTime();
            for (int k = 0; k < iters; k++) {
                for (Launch l : seq) {
                    l.enqueue(device);
                }
            }
            device.synchronize();
            double wall = (System.nanoTime() - t0) / 1e6 / iters;
            long bytes = weightBytes(ifg) + weightBytes(o) + weightBytes(gate) + weightBytes(down);
            record("layer-4-launches", "d " + d + " I " + i, sum, bytes, wall);
        }
    }
}
