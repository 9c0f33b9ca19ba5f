package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.check.RelativeError;
import dev.mmfree.kernels.mlgru.MlgruReference;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.ColdCopies;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantOpenCl;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluOpenCl;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.HostBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.opencl.OpenCl;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * GPU harness of the HGRNBit decode kernels at the 2.7B shapes (d 2560, I 6912, V 32000): each variant
 * is validated against the Java reference, warmed up, then timed with device events (median of
 * --iters); GB/s counts the bytes a launch must move (packed weights in the device layout, plus its
 * vectors) and is set against a float4 copy of 512 MiB measured in the same run, and against a copy
 * moving the same bytes as the variant (the roofline at that size, launch costs included). Each
 * decode kernel is timed hot (its weights again and again, so from L2) and cold (rotating over
 * copies of its weights filling 256 MiB, so from DRAM, as in a deep model). Also: the cost of an
 * empty launch back to back, and one layer's four decode launches back to back (wall clock, hot and
 * cold), which bound tokens/s at batch 1.
 *
 * <pre>
 *   java -cp runtime.jar:kernels.jar:jocl.jar dev.mmfree.kernels.bitlinear.BitLinearOpenClBench \
 *        [--device gpu] [--iters 50] [--tiling 32x8x8] [--decode-tiling 64x4x8] [--narrow-tiling 32x8x8] [--ptx 0|1]
 *        [--copy-mib 512] [--cold-mib 256] [--quick]
 * </pre>
 * Prints one JSON line per result, then a table: variant | shape | ms | GB/s | % of copy.
 * Variants: the {@link BitLinearDecodeOpenCl} kernels (ifg+mlgru, o_proj, gate_up+swiglu, down, head);
 * gemv = {@value BitLinearOpenCl#GEMV} on one quantized row (the plain ternary GEMV, int8 codes in);
 * gemm-tN = {@value BitLinearOpenCl#GEMM} on N quantized rows; mma-SHAPE-tN = {@value BitLinearOpenCl#MMA}
 * (NVIDIA) on N rows, for each {@code --mma} shape (default {@link MmaShape#DEFAULT}).
 * {@code --gemm-only} skips the decode kernels.
 *
 * <p>{@code --gemv-sweep RxSxT,...} runs only the plain GEMV at the five 2.7B shapes, once for each tiling and each
 * layout of {@code --gemv-blocks 0,32,...} (0: chunk-major; B: blocked by B rows, {@link TernaryDeviceLayout}),
 * all cold and interleaved launch by launch with a copy and a read of the same bytes, so that a drift of the
 * machine moves them all alike. Its table gives each variant's median against the copy's and the read's.
 * {@code --sweep-burst N} interleaves them N launches at a time, queued back to back, as a model queues its
 * kernels (each burst's first launch, which follows another kernel, is left out).
 */
public final class BitLinearOpenClBench {
    private record Result(String variant, String shape, double ms, double gbps, double pctCopy, double wallMs) {
    }

    private static final int[] CODES = {0b00, 0b01, 0b11};
    /** Rows of a GEMM checked against the reference (the Java reference is slow at t = 64). */
    private static final int CHECKED_ROWS = 4;
    /**
     * Weights a cold timing rotates over by default: several times the H200's 50 MB L2 (4 MiB with
     * --quick); --cold-mib sets it, e.g. to a 2.7B model's 650 MB, so that the layers rotate as many as it has.
     */
    private static final long COLD_BYTES = 256L << 20;
    /** Layers of a 2.7B decode step: the layer timing with id reads reads once every so many. */
    private static final int STEP_LAYERS = 32;

    private final Device device;
    private final Tiling tiling;
    private final Tiling decode;
    private final Tiling narrow;
    private final int iters;
    private final SplittableRandom rnd = new SplittableRandom(7);
    private final List<Result> results = new ArrayList<>();
    private final String context;
    private double copyGbps = Double.NaN;
    private long coldBytes = COLD_BYTES;
    private boolean quick;

    private List<MmaShape> mmaShapes = List.of();
    private List<Tiling> rowTilings = List.of();
    private boolean gemmOnly;
    private List<Tiling> sweepTilings = List.of();
    private int[] sweepBlocks = {0};
    private int[] sweepGroups = {-1};
    private int burst = 1;
    private boolean trace;

    private BitLinearOpenClBench(Device device, Tiling tiling, Tiling decode, Tiling narrow, int iters) {
        this.device = device;
        this.tiling = tiling;
        this.decode = decode;
        this.narrow = narrow;
        this.iters = iters;
        this.context = String.format(Locale.ROOT, "\"device\":\"%s\",\"driver\":\"%s\",\"tiling\":\"%s decode %s narrow %s\",\"commit\":\"%s\",\"jvm\":\"%s\"",
                device.info().name(), device.info().driverVersion(), tiling, decode, narrow, System.getenv().getOrDefault("MMFREE_COMMIT", "unknown"),
                String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()).replace("\"", "'"));
    }

    public static void main(String[] args) {
        String selector = null;
        String tilingSpec = null;
        String narrowSpec = null;
        String decodeSpec = null;
        int iters = 50;
        int copyMib = 512;
        long coldMib = COLD_BYTES >> 20;
        boolean quick = false;
        Boolean ptx = null;
        String mmaSpec = null;
        String rowsSpec = null;
        boolean gemmOnly = false;
        String sweepSpec = null;
        String blocksSpec = null;
        String groupsSpec = null;
        boolean trace = false;
        int burst = 1;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--device" -> selector = args[++i];
                case "--iters" -> iters = Integer.parseInt(args[++i]);
                case "--tiling" -> tilingSpec = args[++i];
                case "--narrow-tiling" -> narrowSpec = args[++i];
                case "--decode-tiling" -> decodeSpec = args[++i];
                case "--copy-mib" -> copyMib = Integer.parseInt(args[++i]);
                case "--cold-mib" -> coldMib = Long.parseLong(args[++i]);
                case "--quick" -> quick = true;
                case "--ptx" -> ptx = args[++i].equals("1");
                case "--mma" -> mmaSpec = args[++i];
                case "--row-tilings" -> rowsSpec = args[++i];
                case "--gemm-only" -> gemmOnly = true;
                case "--gemv-sweep" -> sweepSpec = args[++i];
                case "--gemv-blocks" -> blocksSpec = args[++i];
                case "--sweep-burst" -> burst = Integer.parseInt(args[++i]);
                case "--gemv-groups" -> groupsSpec = args[++i];
                case "--gemv-trace" -> trace = true;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: [--device SEL] [--iters N] [--tiling RxSxT] [--narrow-tiling RxSxT] [--decode-tiling RxSxT] [--ptx 0|1] [--mma WxMxN[xK],...] [--row-tilings RxSxT,...] [--gemm-only] [--gemv-sweep RxSxT,... [--gemv-blocks B,...] [--gemv-groups G,... (-1: the device's)] [--sweep-burst N] [--gemv-trace]] [--copy-mib N] [--cold-mib N] [--quick]");
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
            Tiling defDecode = Tiling.decodeForDevice(device.info());
            Tiling decode = decodeSpec == null ? new Tiling(defDecode.rows(), defDecode.slices(), defDecode.tokens(), usePtx)
                    : Tiling.parse(decodeSpec, usePtx);
            System.out.println("# " + device.info() + " tiling (GEMM) " + tiling + ", decode " + decode + ", narrow decode (ifg, o_proj, down) " + narrow);
            var bench = new BitLinearOpenClBench(device, tiling, decode, narrow, quick ? 3 : iters);
            if (tiling.ptx()) {
                bench.mmaShapes = mmaSpec == null ? List.of(MmaShape.DEFAULT)
                        : Arrays.stream(mmaSpec.split(",")).map(MmaShape::parse).toList();
            }
            bench.gemmOnly = gemmOnly;
            bench.rowTilings = rowsSpec == null ? List.of(tiling, Tiling.swiGluForDevice(device.info()))
                    : Arrays.stream(rowsSpec.split(",")).map(r -> Tiling.parse(r, usePtx)).toList();
            bench.quick = quick;
            bench.coldBytes = quick ? 4L << 20 : coldMib << 20;
            if (sweepSpec != null) {
                bench.sweepTilings = Arrays.stream(sweepSpec.split(",")).map(r -> Tiling.parse(r, usePtx)).toList();
                if (burst < 1) {
                    throw new IllegalArgumentException("--sweep-burst must be >= 1, got " + burst);
                }
                bench.burst = burst;
                if (blocksSpec != null) {
                    bench.sweepBlocks = Arrays.stream(blocksSpec.split(",")).mapToInt(Integer::parseInt)
                            .map(TernaryDeviceLayout::checkBlockRows).toArray();
                }
                if (groupsSpec != null) {
                    bench.sweepGroups = Arrays.stream(groupsSpec.split(",")).mapToInt(Integer::parseInt).toArray();
                }
                bench.trace = trace;
            }
            bench.run(quick ? 16 : copyMib);
        }
    }

    private void run(int copyMib) {
        copy(copyMib);
        launchCost();
        int d = quick ? 256 : 2560;
        int i = quick ? 512 : 6912;
        int v = quick ? 1000 : 32000;
        if (!sweepTilings.isEmpty()) {
            int[][] shapes = {{3, d, d}, {1, d, d}, {1, 2 * i, d}, {1, d, i}, {1, v, d}};
            if (trace) {
                gemvTrace(shapes);
            } else {
                gemvSweep(shapes);
            }
            return;
        }
        try (BitLinearOpenCl bl = new BitLinearOpenCl(device, tiling, Optional.empty());
             BitLinearDecodeOpenCl wide = new BitLinearDecodeOpenCl(device, decode);
             BitLinearDecodeOpenCl narrowK = new BitLinearDecodeOpenCl(device, narrow)) {
            if (!gemmOnly) {
                ifgMlgru(narrowK, d);
                gemvCase(narrowK, "o_proj", d, d, true, true);
                swiGlu(wide, d, i);
                gemvCase(narrowK, "down", d, i, false, false);
                gemvCase(wide, "head", v, d, true, false);
                layer(wide, narrowK, d, i);
            }
            for (Tiling rt : rowTilings) {
                rowKernels(rt, d, i, quick ? 8 : 64);
            }
            ternaryGemv(bl, "gemv", 3, d, d);
            ternaryGemv(bl, "gemv", 1, d, d);
            ternaryGemv(bl, "gemv", 1, 2 * i, d);
            ternaryGemv(bl, "gemv", 1, d, i);
            ternaryGemv(bl, "gemv", 1, v, d);
            if (device.info().gpu()) {
                // the narrow outputs again without narrowed blocks (GemvSchedule.minBlocks 0), for the A/B
                try (BitLinearOpenCl wideBlocks = new BitLinearOpenCl(device, tiling, Optional.empty(),
                        new BitLinearOpenCl.GemvSchedule(0, 0))) {
                    ternaryGemv(wideBlocks, "gemv unnarrowed", 1, d, d);
                    ternaryGemv(wideBlocks, "gemv unnarrowed", 1, d, i);
                }
            }
            gemms(bl, "gemm", d, i, v, 2);
            for (MmaShape shape : mmaShapes) {
                try (BitLinearOpenCl mma = new BitLinearOpenCl(device, tiling, Optional.of(MmaShape.Choice.of(shape)))) {
                    gemms(mma, "mma-" + shape, d, i, v, BitLinearOpenCl.MMA_MIN_ROWS);
                }
            }
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

    /**
     * Median device time of iters launches after warm-up, and the wall-clock mean of iters back to
     * back; launch k is launches[k % n], so several launches rotate over their weights.
     */
    private double[] time(List<Launch> launches) {
        int n = launches.size();
        for (int w = 0; w < Math.max(3, n); w++) {
            launches.get(w % n).enqueue(device);
        }
        device.synchronize();
        double[] ms = new double[iters];
        for (int k = 0; k < iters; k++) {
            try (DeviceEvent e = launches.get(k % n).enqueueTimed(device)) {
                ms[k] = e.elapsedNanos() / 1e6;
            }
        }
        Arrays.sort(ms);
        long t0 = System.nanoTime();
        for (int k = 0; k < iters; k++) {
            launches.get(k % n).enqueue(device);
        }
        device.synchronize();
        double wall = (System.nanoTime() - t0) / 1e6 / iters;
        return new double[]{ms[iters / 2], wall};
    }

    /**
     * A float4 copy moving the given bytes (half read, half written), rotated over buffers of
     * {@value #COLD_BYTES} bytes in all: the roofline of a kernel of that size, launch costs included.
     */
    private void copySameBytes(long bytes) {
        try (ColdCopies copies = new ColdCopies(device, bytes, coldBytes)) {
            double[] t = time(copies.launches());
            record("copy same bytes cold", copies.label(), t[0], copies.bytes(), t[1]);
        }
    }

    private void copy(int mib) {
        long bytes = (long) mib << 20;
        try (var p = device.build("copy", ClPrograms.resource("bitlinear/copy_f32x4.cl"), "");
             DeviceBuffer a = device.allocate(MemoryCategory.WORKSPACE, bytes, "copy a");
             DeviceBuffer b = device.allocate(MemoryCategory.WORKSPACE, bytes, "copy b");
             Launch l = new Launch(p.kernel("copy_f32x4").args(a, b), new long[]{bytes / 16}, new long[]{256})) {
            device.fill(a, 0x3f800000);
            double[] t = time(List.of(l));
            copyGbps = 2.0 * bytes / (t[0] * 1e-3) / 1e9;
            record("copy_f32x4", mib + " MiB", t[0], 2.0 * bytes, t[1]);
        }
    }

    private void launchCost() {
        try (var p = device.build("copy", ClPrograms.resource("bitlinear/copy_f32x4.cl"), "");
             DeviceBuffer sink = device.allocate(MemoryCategory.WORKSPACE, 4, "sink");
             Launch l = new Launch(p.kernel("empty_launch").args(sink), new long[]{256}, new long[]{256})) {
            double[] t = time(List.of(l));
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

    /** False (and a FAILED line) when the device's result is off; the variant is then not timed. */
    private boolean validate(String variant, String shape, float[] ref, float[] got, double tol) {
        double rel = RelativeError.l2(got, ref);
        if (rel <= tol) {
            return true;
        }
        System.out.printf(Locale.ROOT, "{\"variant\":\"%s\",\"shape\":\"%s\",\"failed\":\"rel L2 %.3e > %.1e\",%s}%n",
                variant, shape, rel, tol, context);
        results.add(new Result(variant + " FAILED", shape, Double.NaN, Double.NaN, Double.NaN, Double.NaN));
        return false;
    }

    /** Copies of one matrix filling at least {@value #COLD_BYTES} bytes, so that rotating over them reads DRAM, not L2. */
    private List<DeviceTernaryMatrix> copies(String name, TernaryMatrix... stack) {
        List<DeviceTernaryMatrix> list = new ArrayList<>();
        DeviceTernaryMatrix first = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, name, stack);
        list.add(first);
        long n = Math.max(1, coldBytes / weightBytes(first));
        for (int c = 1; c < n; c++) {
            list.add(DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, name + " copy " + c, stack));
        }
        return list;
    }

    /**
     * Validates launch 0 against ref (read from out), then times the launches hot (launch 0 again and
     * again: its weights stay in L2) and cold (rotating over all: weights from DRAM).
     */
    private void decodeCase(String variant, String shape, List<DeviceTernaryMatrix> ws, Function<DeviceTernaryMatrix, Launch> make,
                            DeviceBuffer out, float[] ref, double vectorBytes) {
        List<Launch> launches = new ArrayList<>();
        try {
            for (DeviceTernaryMatrix w : ws) {
                launches.add(make.apply(w));
            }
            launches.get(0).enqueue(device);
            float[] got = new float[ref.length];
            device.read(out, got);
            if (!validate(variant, shape, ref, got, 1e-5)) {
                return;
            }
            double bytes = weightBytes(ws.get(0)) + vectorBytes;
            double[] hot = time(List.of(launches.get(0)));
            record(variant + " hot", shape, hot[0], bytes, hot[1]);
            double[] cold = time(launches);
            record(variant + " cold", shape + " x" + launches.size(), cold[0], bytes, cold[1]);
            copySameBytes((long) bytes);
        } finally {
            launches.forEach(Launch::close);
            ws.forEach(DeviceTernaryMatrix::close);
        }
    }

    private void ifgMlgru(BitLinearDecodeOpenCl k, int d) {
        TernaryMatrix[] ifg = {random(d, d), random(d, d), random(d, d)};
        float[] x = gaussian(d, 3);
        float[] n1 = norms(d);
        float[] n2 = norms(3 * d);
        float[] lb = norms(d);
        for (int j = 0; j < d; j++) {
            lb[j] *= 0.5f;
        }
        float[] s0 = gaussian(d, 1);
        float[] h = new float[d];
        RmsNormQuantReference.rmsNorm(x, 0, n1, h, 0, d, 1e-6);
        float[][] v = new float[3][];
        for (int p = 0; p < 3; p++) {
            v[p] = bitLinear(ifg[p], h, Arrays.copyOfRange(n2, p * d, (p + 1) * d));
        }
        float[] state = s0.clone();
        float[] ones = new float[d];
        Arrays.fill(ones, 1f);
        MlgruReference.step(v[0], v[1], v[2], 0, lb, ones, 1e-6, state, new float[d], d);
        try (DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer n1b = device.upload(MemoryCategory.WEIGHTS, "norm1", n1);
             DeviceBuffer n2b = device.upload(MemoryCategory.WEIGHTS, "norm2", n2);
             DeviceBuffer lbB = device.upload(MemoryCategory.WEIGHTS, "lb", lb);
             DeviceBuffer in = device.upload(MemoryCategory.STATE, "state in", s0);
             DeviceBuffer out = device.allocate(MemoryCategory.STATE, 4L * d, "state out");
             DeviceBuffer g = device.allocate(MemoryCategory.WORKSPACE, 4L * d, "g");
             DeviceBuffer gate = device.allocate(MemoryCategory.WORKSPACE, 4L * d, "gate")) {
            decodeCase("ifg+mlgru", d + "->3x" + d, copies("ifg", ifg),
                    w -> k.mlgruStep(w, xb, n1b, 1e-6f, n2b, 1e-6f, lbB, in, out, g, gate), out, state, 4.0 * 10 * d);
        }
    }

    private void gemvCase(BitLinearDecodeOpenCl k, String variant, int out, int in, boolean norm1, boolean mult) {
        TernaryMatrix m = random(out, in);
        float[] x = gaussian(in, 3);
        float[] n1 = norms(in);
        float[] mu = gaussian(in, 1);
        float[] n2 = norms(in);
        float[] h = x.clone();
        if (norm1) {
            RmsNormQuantReference.rmsNorm(x, 0, n1, h, 0, in, 1e-6);
        }
        if (mult) {
            for (int j = 0; j < in; j++) {
                h[j] *= mu[j];
            }
        }
        float[] ref = bitLinear(m, h, n2);
        try (DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer n1b = device.upload(MemoryCategory.WEIGHTS, "norm1", n1);
             DeviceBuffer mb = device.upload(MemoryCategory.WORKSPACE, "mult", mu);
             DeviceBuffer n2b = device.upload(MemoryCategory.WEIGHTS, "norm2", n2);
             DeviceBuffer y = device.allocate(MemoryCategory.WORKSPACE, 4L * out, "y")) {
            decodeCase(variant, in + "->" + out, copies(variant, m),
                    w -> k.gemv(w, xb, norm1 ? n1b : null, 1e-6f, mult ? mb : null, n2b, 1e-6f, y, false), y, ref,
                    4.0 * ((norm1 ? 2 : 0) + (mult ? 1 : 0) + 2) * in + 4.0 * out);
        }
    }

    private void swiGlu(BitLinearDecodeOpenCl k, int d, int i) {
        TernaryMatrix m = random(2 * i, d);
        float[] x = gaussian(d, 3);
        float[] n1 = norms(d);
        float[] n2 = norms(d);
        float[] h = new float[d];
        RmsNormQuantReference.rmsNorm(x, 0, n1, h, 0, d, 1e-6);
        float[] gu = bitLinear(m, h, n2);
        float[] ref = new float[i];
        SwiGluReference.apply(gu, 0, gu, i, ref, 0, i);
        try (DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer n1b = device.upload(MemoryCategory.WEIGHTS, "norm1", n1);
             DeviceBuffer n2b = device.upload(MemoryCategory.WEIGHTS, "norm2", n2);
             DeviceBuffer v = device.allocate(MemoryCategory.WORKSPACE, 4L * i, "v")) {
            decodeCase("gate_up+swiglu", d + "->2x" + i, copies("gate_up", m),
                    w -> k.swiGluGateUp(w, xb, n1b, 1e-6f, n2b, 1e-6f, v), v, ref, 4.0 * (3 * d + i));
        }
    }

    private static float[] bitLinear(TernaryMatrix m, float[] h, float[] norm) {
        byte[] q = new byte[m.in()];
        float[] f = {RmsNormQuantReference.normQuantize(h, 0, norm, q, 0, m.in(), new float[m.in()])};
        float[] y = new float[m.out()];
        BitLinearReference.forward(m, q, f, 1, y, false);
        return y;
    }

    /**
     * The GEMM path's row kernels at the 2.7B shapes on {@code rows} rows (by default with the GEMM's
     * tiling, as the norm-quantize runs, and SwiGLU's own): the norm-quantize of i|f|g's
     * input (two norms, three projections) and SwiGLU + quantize, with a tiling's work-group.
     */
    private void rowKernels(Tiling rt, int d, int i, int rows) {
        var rng = new Random(5);
        try (var nq = new RmsNormQuantOpenCl(device, rt);
             var sg = new SwiGluOpenCl(device, rt);
             DeviceBuffer x = device.allocate(MemoryCategory.WORKSPACE, 4L * rows * 2 * i, "x");
             DeviceBuffer norm = device.allocate(MemoryCategory.WORKSPACE, 4L * 3 * i, "norm");
             QuantizedInput q3 = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "q3", 3, rows, d);
             QuantizedInput qi = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "qi", 1, rows, i)) {
            float[] xs = new float[rows * 2 * i];
            for (int k = 0; k < xs.length; k++) {
                xs[k] = (float) rng.nextGaussian();
            }
            float[] ns = new float[3 * i];
            Arrays.fill(ns, 1f);
            device.write(x, xs);
            device.write(norm, ns);
            try (Launch a = nq.normQuant(x, d, 0, null, norm, 1e-6f, norm, 1e-5f, q3, rows);
                 Launch b = sg.normQuant(x, norm, 1e-5f, qi, rows)) {
                double[] ta = time(List.of(a));
                record("rows-normquant " + rt, d + "x3 t" + rows, ta[0], 4.0 * rows * d + 3.0 * rows * d, ta[1]);
                double[] tb = time(List.of(b));
                record("rows-swiglu " + rt, i + " t" + rows, tb[0], 8.0 * rows * i + rows * i, tb[1]);
            }
        }
    }

    /** The 2.7B layer's GEMMs at 1, 8 and 64 rows (those at least minRows), and lm_head at 64 rows. */
    private void gemms(BitLinearOpenCl bl, String label, int d, int i, int v, int minRows) {
        for (int t : new int[]{1, 8, 64}) {
            if (t >= minRows) {
                gemm(bl, label, 3, d, d, t);
                gemm(bl, label, 1, d, d, t);
                gemm(bl, label, 1, 2 * i, d, t);
                gemm(bl, label, 1, d, i, t);
            }
        }
        gemm(bl, label, 1, v, d, 64);
    }

    private void gemm(BitLinearOpenCl bl, String label, int projections, int out, int in, int rows) {
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
                if (!validate(label + "-t" + rows, shape.get(), ref, got, 1e-6)) {
                    return;
                }
                double[] t = time(List.of(l));
                record(label + "-t" + rows, shape.get(), t[0], weightBytes(w) + (double) q.length + 4.0 * rows * projections * out, t[1]);
            }
        }
    }

    /** A GEMV's random weights and codes (one row, kPad apart a projection), and the reference's output. */
    private record GemvCase(TernaryMatrix[] stack, byte[] q, float[] factor, int[] qsum, float[] ref, String shape) {
        /** The codes, factors and code sums on the device. */
        QuantizedInput upload(Device device) {
            QuantizedInput qi = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "q", stack.length, 1, stack[0].in());
            device.write(qi.q(), q);
            device.write(qi.factor(), factor);
            device.write(qi.qsum(), qsum);
            return qi;
        }

        /** Bytes a GEMV moves besides its weights: codes in, floats out. */
        double vectorBytes() {
            return q.length + 4.0 * ref.length;
        }
    }

    private GemvCase gemvCase(int projections, int out, int in) {
        TernaryMatrix[] stack = new TernaryMatrix[projections];
        for (int p = 0; p < projections; p++) {
            stack[p] = random(out, in);
        }
        int kPad = QuantizedInput.kPad(in);
        byte[] q = new byte[projections * kPad];
        float[] factor = new float[projections];
        int[] qsum = new int[projections];
        float[] ref = new float[projections * out];
        for (int p = 0; p < projections; p++) {
            byte[] qp = new byte[in];
            for (int j = 0; j < in; j++) {
                qp[j] = (byte) rnd.nextInt(-128, 128);
                q[p * kPad + j] = qp[j];
                qsum[p] += qp[j];
            }
            factor[p] = 0.01f;
            float[] y = new float[out];
            BitLinearReference.forward(stack[p], qp, new float[]{factor[p]}, 1, y, false);
            System.arraycopy(y, 0, ref, p * out, out);
        }
        return new GemvCase(stack, q, factor, qsum, ref, in + "->" + (projections > 1 ? projections + "x" : "") + out);
    }

    /**
     * The plain ternary GEMV ({@value BitLinearOpenCl#GEMV}: one row of int8 codes in, floats out), hot and
     * cold, against a copy of the same bytes: packed weights, codes and outputs.
     */
    private void ternaryGemv(BitLinearOpenCl bl, String variant, int projections, int out, int in) {
        GemvCase g = gemvCase(projections, out, in);
        try (QuantizedInput qi = g.upload(device);
             DeviceBuffer y = device.allocate(MemoryCategory.WORKSPACE, 4L * projections * out, "y")) {
            decodeCase(variant, g.shape(), copies(variant, g.stack()), w -> bl.gemm(w, qi, 1, y, false), y, g.ref(), g.vectorBytes());
        }
    }

    /**
     * The plain GEMV for each shape {P, out, in}, each tiling of --gemv-sweep and each layout of --gemv-blocks,
     * cold, against a copy and a read of the same bytes (weights, codes, outputs). Launches go round robin,
     * one of each variant and one copy and one read a round, each timed alone by its event: the rates of one
     * moment of the machine. Prints a table of medians and each variant's share of the copy and of the read.
     */
    private void gemvSweep(int[][] shapes) {
        record Variant(String label, BitLinearOpenCl bl, List<DeviceTernaryMatrix> ws, List<Launch> launches) {
        }
        List<String> lines = new ArrayList<>();
        for (int[] s : shapes) {
            int projections = s[0];
            int out = s[1];
            int in = s[2];
            GemvCase g = gemvCase(projections, out, in);
            TernaryMatrix[] stack = g.stack();
            float[] ref = g.ref();
            String shape = g.shape();
            List<Variant> variants = new ArrayList<>();
            try (QuantizedInput qi = g.upload(device);
                 DeviceBuffer y = device.allocate(MemoryCategory.WORKSPACE, 4L * projections * out, "y")) {
                double bytes = 0;
                for (Tiling t : sweepTilings) {
                    for (int blockRows : sweepBlocks) {
                        for (int groups : sweepGroups) {
                            BitLinearOpenCl bl = new BitLinearOpenCl(device, t, Optional.empty(), schedule(groups), blockRows);
                            List<DeviceTernaryMatrix> ws = new ArrayList<>();
                            List<Launch> launches = new ArrayList<>();
                            variants.add(new Variant(t + "->" + bl.gemvTiling(TernaryDeviceLayout.outPad(out) * projections)
                                    + (blockRows == 0 ? " chunk-major" : " blocked " + blockRows) + groupsLabel(groups),
                                    bl, ws, launches));
                            DeviceTernaryMatrix first = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "sweep", blockRows, stack);
                            ws.add(first);
                            bytes = weightBytes(first) + g.vectorBytes();
                            for (long c = 1; c < Math.max(1, coldBytes / weightBytes(first)); c++) {
                                ws.add(DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "sweep copy " + c, blockRows, stack));
                            }
                            for (DeviceTernaryMatrix w : ws) {
                                launches.add(bl.gemm(w, qi, 1, y, false));
                            }
                            launches.get(0).enqueue(device);
                            float[] got = new float[ref.length];
                            device.read(y, got);
                            if (!validate("gemv sweep " + variants.getLast().label, shape, ref, got, 1e-6)) {
                                // wrong results: a FAILED line, and the variant leaves the timing
                                Variant bad = variants.removeLast();
                                bad.launches.forEach(Launch::close);
                                bad.ws.forEach(DeviceTernaryMatrix::close);
                                bad.bl.close();
                            }
                        }
                    }
                }
                try (ColdCopies copies = new ColdCopies(device, (long) bytes, coldBytes);
                     ColdCopies reads = ColdCopies.reads(device, (long) bytes, coldBytes)) {
                    List<List<Launch>> sets = new ArrayList<>();
                    variants.forEach(v -> sets.add(v.launches));
                    sets.add(copies.launches());
                    sets.add(reads.launches());
                    double[] ms = timeRoundRobin(sets);
                    double copyMs = ms[variants.size()];
                    double readMs = ms[variants.size() + 1];
                    record("sweep copy same bytes cold", shape + " " + copies.label(), copyMs, copies.bytes(), Double.NaN);
                    record("sweep read same bytes cold", shape + " " + reads.label(), readMs, reads.bytes(), Double.NaN);
                    for (int k = 0; k < variants.size(); k++) {
                        Variant v = variants.get(k);
                        record("sweep gemv " + v.label, shape + " x" + v.launches.size(), ms[k], bytes, Double.NaN);
                        // a rate over the copy's (read's) rate, each over its own bytes
                        double ofCopy = 100 * (bytes / ms[k]) / (copies.bytes() / copyMs);
                        double ofRead = 100 * (bytes / ms[k]) / (reads.bytes() / readMs);
                        lines.add(String.format(Locale.ROOT, "%s | %s | %.2f | %.2f | %.2f | %.1f | %.1f", shape, v.label,
                                1e3 * ms[k], 1e3 * copyMs, 1e3 * readMs, ofCopy, ofRead));
                    }
                }
            } finally {
                for (Variant v : variants) {
                    v.launches.forEach(Launch::close);
                    v.ws.forEach(DeviceTernaryMatrix::close);
                    v.bl.close();
                }
            }
        }
        System.out.println();
        System.out.println("# gemv sweep, cold, round robin (" + iters + " rounds"
                + (burst > 1 ? ", " + burst + " launches back to back a turn, the first left out" : ", one launch a turn") + "): median us of each, and the GEMV's rate as % of the copy's and the read's");
        System.out.println("shape | tiling -> GEMV tiling, layout | gemv us | copy us | read us | % of copy | % of read");
        lines.forEach(System.out::println);
    }

    /**
     * The device's GEMV schedule ({@code groups} < 0), or it with at most {@code groups} work-groups taking row blocks in
     * turn (0: one a block).
     */
    private BitLinearOpenCl.GemvSchedule schedule(int groups) {
        var s = BitLinearOpenCl.GemvSchedule.forDevice(device.info());
        return groups < 0 ? s : new BitLinearOpenCl.GemvSchedule(groups, s.minBlocks(), s.wideRows(), s.narrowRows());
    }

    private static String groupsLabel(int groups) {
        return groups < 0 ? "" : " groups " + groups;
    }

    /**
     * {@code --gemv-trace}: the plain GEMV of each shape built with {@code GEMV_TRACE} (the first tiling of --gemv-sweep,
     * each layout of --gemv-blocks and schedule of --gemv-groups), cold, in turn with a traced read of the same bytes, one
     * launch a turn. Prints {@link GemvTrace}'s medians: when the work-groups enter and end by the GPU's clock, how long
     * one takes and its phases, and how many an SM holds, beside each launch's event time.
     */
    private void gemvTrace(int[][] shapes) {
        boolean ptx = sweepTilings.getFirst().ptx();
        List<String> lines = new ArrayList<>();
        for (int[] s : shapes) {
            GemvCase g = gemvCase(s[0], s[1], s[2]);
            for (int blockRows : sweepBlocks) {
                for (int groups : sweepGroups) {
                    List<AutoCloseable> owned = new ArrayList<>();
                    try {
                        BitLinearOpenCl bl = keep(owned, new BitLinearOpenCl(device, sweepTilings.getFirst(), Optional.empty(),
                                schedule(groups), blockRows));
                        QuantizedInput qi = keep(owned, g.upload(device));
                        DeviceBuffer y = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 4L * g.ref().length, "y"));
                        List<DeviceTernaryMatrix> ws = new ArrayList<>();
                        ws.add(keep(owned, DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "trace", blockRows, g.stack())));
                        double bytes = weightBytes(ws.getFirst()) + g.vectorBytes();
                        for (long c = 1; c < Math.max(1, coldBytes / weightBytes(ws.getFirst())); c++) {
                            ws.add(keep(owned, DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "trace copy " + c, blockRows, g.stack())));
                        }
                        int gemvGroups = (int) bl.gemvGroups(ws.getFirst());
                        int readGroups = (int) ColdCopies.readGroups((long) bytes);
                        DeviceBuffer gemvStamps = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 8L * GemvTrace.SLOTS * gemvGroups, "gemv trace"));
                        DeviceBuffer readStamps = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 8L * GemvTrace.SLOTS * readGroups, "read trace"));
                        List<Launch> gemvs = new ArrayList<>();
                        for (DeviceTernaryMatrix w : ws) {
                            gemvs.add(keep(owned, bl.gemvTraced(w, qi, y, gemvStamps)));
                        }
                        ColdCopies reads = keep(owned, ColdCopies.tracedReads(device, (long) bytes, coldBytes, readStamps, ptx));
                        gemvs.getFirst().enqueue(device);
                        float[] got = new float[g.ref().length];
                        device.read(y, got);
                        String label = g.shape() + " " + bl.gemvTiling(ws.getFirst().rowsPad())
                                + (blockRows == 0 ? " chunk-major" : " blocked " + blockRows) + groupsLabel(groups);
                        if (!validate("gemv trace " + label, g.shape(), g.ref(), got, 1e-6)) {
                            continue;
                        }
                        GemvTrace gemvTrace = GemvTrace.collect();
                        GemvTrace readTrace = GemvTrace.collect();
                        long[] gemvRaw = new long[GemvTrace.SLOTS * gemvGroups];
                        long[] readRaw = new long[GemvTrace.SLOTS * readGroups];
                        for (int k = 0; k < iters + 3; k++) {
                            double gemvUs = tracedOnce(gemvs.get(k % gemvs.size()), gemvStamps, gemvRaw);
                            double readUs = tracedOnce(reads.launches().get(k % reads.launches().size()), readStamps, readRaw);
                            if (k >= 3) {
                                gemvTrace.add(gemvRaw, gemvGroups, gemvUs);
                                readTrace.add(readRaw, readGroups, readUs);
                            }
                        }
                        lines.add(gemvTrace.line("gemv " + label + " (" + gemvGroups + " groups)"));
                        lines.add(readTrace.line("read " + g.shape() + " " + reads.label() + " (" + readGroups + " groups)"));
                    } finally {
                        for (AutoCloseable c : owned.reversed()) {
                            try {
                                c.close();
                            } catch (Exception e) {
                                throw new IllegalStateException(e);
                            }
                        }
                    }
                }
            }
        }
        System.out.println();
        System.out.println("# gemv trace, cold, a traced GEMV and a traced read of the same bytes in turn (" + iters
                + " rounds): medians over the launches, microseconds by the GPU's %globaltimer from the first work-group's entry");
        System.out.println(GemvTrace.header());
        lines.forEach(System.out::println);
    }

    /** One launch timed by its event, its trace (zeroed before) read back into raw; returns the event's microseconds. */
    private double tracedOnce(Launch launch, DeviceBuffer stamps, long[] raw) {
        device.fill(stamps, 0);
        double us;
        try (DeviceEvent e = launch.enqueueTimed(device)) {
            us = e.elapsedNanos() / 1e3;
        }
        byte[] bytes = new byte[8 * raw.length];
        device.read(stamps, bytes);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(raw);
        return us;
    }

    /**
     * Median device time (ms) of each set: iters rounds, each launching the next launch of every set in turn, one at
     * a time. With {@code --sweep-burst N} (N > 1) a set's turn is N launches queued back to back, as a model queues
     * its kernels, and the first of them, which follows another set's kernel, is left out of the median.
     */
    private double[] timeRoundRobin(List<List<Launch>> sets) {
        for (List<Launch> set : sets) {
            for (int w = 0; w < Math.max(3, set.size()); w++) {
                set.get(w % set.size()).enqueue(device);
            }
        }
        device.synchronize();
        int kept = burst > 1 ? burst - 1 : 1;
        double[][] ms = new double[sets.size()][iters * kept];
        int next = 0;
        for (int k = 0; k < iters; k++) {
            for (int j = 0; j < sets.size(); j++) {
                List<Launch> set = sets.get(j);
                List<DeviceEvent> events = new ArrayList<>();
                try {
                    for (int b = 0; b < burst; b++) {
                        events.add(set.get((next + b) % set.size()).enqueueTimed(device));
                    }
                    for (int b = burst > 1 ? 1 : 0; b < burst; b++) {
                        ms[j][k * kept + b - (burst > 1 ? 1 : 0)] = events.get(b).elapsedNanos() / 1e6;
                    }
                } finally {
                    events.forEach(DeviceEvent::close);
                }
            }
            next += burst;
        }
        double[] median = new double[sets.size()];
        for (int j = 0; j < sets.size(); j++) {
            Arrays.sort(ms[j]);
            median[j] = ms[j][ms[j].length / 2];
        }
        return median;
    }

    /**
     * One layer's four decode launches back to back, wall clock per layer: hot (one layer again and
     * again) and cold (rotating over distinct layers filling {@value #COLD_BYTES} bytes, as a deep
     * model reads them); plus the sum of the four kernels' median device times (hot).
     */
    private void layer(BitLinearDecodeOpenCl wide, BitLinearDecodeOpenCl narrow, int d, int i) {
        List<AutoCloseable> owned = new ArrayList<>();
        try {
            DeviceBuffer x = keep(owned, device.upload(MemoryCategory.WORKSPACE, "x", gaussian(d, 1)));
            DeviceBuffer nd = keep(owned, device.upload(MemoryCategory.WEIGHTS, "norm d", norms(d)));
            DeviceBuffer n3 = keep(owned, device.upload(MemoryCategory.WEIGHTS, "norm 3d", norms(3 * d)));
            DeviceBuffer ni = keep(owned, device.upload(MemoryCategory.WEIGHTS, "norm i", norms(i)));
            DeviceBuffer lb = keep(owned, device.upload(MemoryCategory.WEIGHTS, "lb", new float[d]));
            DeviceBuffer state = keep(owned, device.upload(MemoryCategory.STATE, "state", new float[d]));
            DeviceBuffer g = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 4L * d, "g"));
            DeviceBuffer gate = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 4L * d, "gate"));
            DeviceBuffer v = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 4L * i, "v"));
            TernaryMatrix[] ifgM = {random(d, d), random(d, d), random(d, d)};
            TernaryMatrix oM = random(d, d);
            TernaryMatrix gateM = random(2 * i, d);
            TernaryMatrix downM = random(d, i);
            List<List<Launch>> layers = new ArrayList<>();
            List<List<Launch>> oneLaunch = new ArrayList<>();
            List<BitLinearDecodeOpenCl.LayerWeights> lws = new ArrayList<>();
            long bytes = 0;
            do {
                DeviceTernaryMatrix ifg = keep(owned, DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "ifg", ifgM));
                DeviceTernaryMatrix o = keep(owned, DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "o", oM));
                DeviceTernaryMatrix gu = keep(owned, DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "gate", gateM));
                DeviceTernaryMatrix down = keep(owned, DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "down", downM));
                List<Launch> seq = List.of(
                        keep(owned, narrow.mlgruStep(ifg, x, nd, 1e-6f, n3, 1e-6f, lb, state, state, g, gate)),
                        keep(owned, narrow.gemv(o, g, nd, 1e-6f, gate, nd, 1e-6f, x, true)),
                        keep(owned, wide.swiGluGateUp(gu, x, nd, 1e-6f, nd, 1e-6f, v)),
                        keep(owned, narrow.gemv(down, v, null, 0f, null, ni, 1e-6f, x, true)));
                layers.add(seq);
                var lw = new BitLinearDecodeOpenCl.LayerWeights(nd, n3, lb, ifg, nd, nd, o, nd, nd, gu, ni, down);
                lws.add(lw);
                oneLaunch.add(List.of(keep(owned, narrow.layer(device.info().computeUnits(), lw, 1e-6f, 1e-6f, x, state, state,
                        g, gate, v))));
                bytes = weightBytes(ifg) + weightBytes(o) + weightBytes(gu) + weightBytes(down);
            } while ((long) layers.size() * bytes < coldBytes);
            double sum = 0;
            for (Launch l : layers.get(0)) {
                sum += time(List.of(l))[0];
            }
            record("layer-4-launches hot", "d " + d + " I " + i, sum, bytes, layerWall(layers.subList(0, 1)));
            double cold = layerWall(layers);
            record("layer-4-launches cold (wall)", "d " + d + " I " + i + " x" + layers.size(), cold, bytes, cold);
            double[] one = time(oneLaunch.get(0));
            narrow.barriers().check();
            record("layer-1-launch hot", "d " + d + " I " + i + " groups " + device.info().computeUnits(), one[0], bytes, one[1]);
            double oneCold = layerWall(oneLaunch);
            narrow.barriers().check();
            record("layer-1-launch cold (wall)", "d " + d + " I " + i + " x" + oneLaunch.size(), oneCold, bytes, oneCold);
            double withReads = layerWallWithReads(oneLaunch, x, owned);
            narrow.barriers().check();
            record("layer-1-launch cold + id read every " + STEP_LAYERS + " (wall)", "d " + d + " I " + i + " x" + oneLaunch.size(),
                    withReads, bytes, withReads);
            if (narrow.tiling().ptx()) {   // the clocks are read through inline PTX
                traceLayer(narrow, lws, x, state, g, gate, v, owned);
            }
        } finally {
            for (int k = owned.size() - 1; k >= 0; k--) {
                try {
                    owned.get(k).close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    /**
     * The persistent layer built with {@code MMFREE_TRACE}, run alone on the cold layers in turn: where a
     * phase's time goes, by the GPU's own clocks at marks inside the kernel ({@link LayerTraceReport}).
     */
    private void traceLayer(BitLinearDecodeOpenCl narrow, List<BitLinearDecodeOpenCl.LayerWeights> lws, DeviceBuffer x,
                            DeviceBuffer state, DeviceBuffer g, DeviceBuffer gate, DeviceBuffer v, List<AutoCloseable> owned) {
        int groups = device.info().computeUnits();
        DeviceBuffer trace = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 8 * BitLinearDecodeOpenCl.traceLongs(groups), "trace"));
        List<Launch> traced = new ArrayList<>();
        for (var lw : lws) {
            traced.add(keep(owned, narrow.layerTrace(groups, lw, 1e-6f, 1e-6f, x, state, state, g, gate, v, trace)));
        }
        LayerTraceReport report = new LayerTraceReport(groups);
        byte[] raw = new byte[(int) (8 * BitLinearDecodeOpenCl.traceLongs(groups))];
        for (int k = 0; k < iters + 3; k++) {
            device.fill(trace, 0);
            traced.get(k % traced.size()).enqueue(device);
            device.synchronize();
            if (k >= 3) {
                device.read(trace, raw);
                report.add(raw);
            }
        }
        narrow.barriers().check();
        System.out.println("# traced persistent layer, " + groups + " work-groups, cold layers in turn:");
        report.lines().forEach(line -> System.out.println("# " + line));
    }

    /** Wall clock per layer of iters layers enqueued back to back, rotating over the given ones. */
    private double layerWall(List<List<Launch>> layers) {
        for (List<Launch> seq : layers) {
            seq.forEach(l -> l.enqueue(device));
        }
        device.synchronize();
        long t0 = System.nanoTime();
        for (int k = 0; k < iters; k++) {
            layers.get(k % layers.size()).forEach(l -> l.enqueue(device));
        }
        device.synchronize();
        return (System.nanoTime() - t0) / 1e6 / iters;
    }

    /**
     * As {@link #layerWall}, with a decode step's id read after every {@value #STEP_LAYERS} layers: 4 bytes
     * into pinned host memory and a flush, as {@code QueuedDecodeStream} queues them between two steps.
     * Set against the plain wall time, it shows what that read costs the queue.
     */
    private double layerWallWithReads(List<List<Launch>> layers, DeviceBuffer from, List<AutoCloseable> owned) {
        HostBuffer id = keep(owned, device.allocateHost(4, "id"));
        List<DeviceEvent> reads = new ArrayList<>();
        try {
            // a first read into new pinned memory may carry the driver's one-time set-up, which a decode
            // stream (reusing its two buffers) does not pay a step: one read before the clock starts
            reads.add(device.readAsync(from, 0, id.bytes()));
            device.synchronize();
            long t0 = System.nanoTime();
            for (int k = 0; k < iters; k++) {
                layers.get(k % layers.size()).forEach(l -> l.enqueue(device));
                if (k % STEP_LAYERS == STEP_LAYERS - 1) {
                    reads.add(device.readAsync(from, 0, id.bytes()));
                    device.flush();
                }
            }
            device.synchronize();
            return (System.nanoTime() - t0) / 1e6 / iters;
        } finally {
            reads.forEach(DeviceEvent::close);
        }
    }

    private static <T extends AutoCloseable> T keep(List<AutoCloseable> owned, T t) {
        owned.add(t);
        return t;
    }
}
