package dev.mmfree.kernels.gemv;

import dev.mmfree.kernels.attention.AttentionOpenCl;
import dev.mmfree.kernels.check.RelativeError;
import dev.mmfree.kernels.gemv.GemvOpenCl.Variant;
import dev.mmfree.kernels.linear.LinearReference;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.ColdCopies;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
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
import java.util.TreeSet;

/**
 * GPU harness of the Transformer++ baseline's kernels at the 2.7B Llama shapes (d 2560, H = KV 32, hd 80,
 * I 6912, V 32000): every variant is validated against the Java reference (GEMMs on their first rows),
 * warmed up, then timed with device events (median of --iters); GB/s counts the bytes a launch must
 * move (weights as stored, plus its vectors) and is set against a float4 copy measured in the same run.
 * A GEMV is timed cold, as a model runs it: in turn over copies of its weights that take 256 MiB together
 * (shape "cold xN"), far past the L2, where one matrix timed again and again would be read from the L2.
 * With --gemv-only, the GEMVs of every size in --sizes (d x I; default the 2.7B's 2560x6912).
 * Then attention over the KV cache at contexts 2048 and 8192 by number of splits, and one layer's
 * launches back to back at batch 1 (wall clock), which with 32 layers bounds decode tokens/s.
 *
 * <pre>
 *   java -cp 'runtime.jar:kernels.jar:jocl.jar' dev.mmfree.kernels.gemv.GemvOpenClBench \
 *        [--device gpu] [--iters 50] [--copy-mib 512] [--quick] [--gemv-only] [--sizes 1024x2816,2560x6912]
 * </pre>
 * Prints one JSON line per result (env MMFREE_COMMIT names the commit), then a table
 * variant | shape | ms | GB/s | % of copy | % of same-size copy | GFLOP/s | wall ms/launch, where the same-size copy is
 * a cold copy moving as many bytes as a GEMV of that matrix ("copy same bytes"). Variants: gemv-f16 / gemv-f32 [shape] =
 * the plain GEMV per {@link DenseShape} (gemv group/lanes per row, +ptx; the first two, the default, with
 * "-> N lanes" where it widens for few rows, the others at fixed lanes); gemv_norm_rope_kv_f16_f32 etc. =
 * the model's fused variant of that matrix; gemm-f16-tN = the tiled GEMM on N rows (split K ways, its
 * reduction included, when the policy splits); attn-sN = attention in N splits (+ combine); layer-N-launches =
 * a decoder layer's launches at batch 1 (ms: device time summed, wall: back to back).
 */
public final class GemvOpenClBench {
    private record Result(String variant, String shape, double ms, double gbps, double pctCopy, double pctSame, double gflops,
                          double wallMs) {
    }

    private static final int CHECKED_ROWS = 4;
    private static final double TOL = 1e-5;
    private static final float EPS = 1e-6f;

    private final Device device;
    private final int iters;
    private final boolean quick;
    /** Only the fp16 GEMVs (every shape of the list) and their fused forms: no GEMMs, attention or layers. */
    private final boolean gemvOnly;
    /** Only the attention kernel, at the model presets' heads and contexts besides the default size's. */
    private final boolean attentionOnly;
    /** Only the one-launch layer, traced, at every size of the list (hd 128) and contexts 128 and 512. */
    private final boolean layerTrace;
    /** {d, I} of each model size whose GEMVs are timed (the full run: the first only). */
    private final int[][] sizes;
    /** A GEMV is timed in turn over copies of its weights that together take at least this many bytes. */
    private final long coldBytes;
    private final SplittableRandom rnd = new SplittableRandom(7);
    private final List<Result> results = new ArrayList<>();
    private final String context;
    private double copyGbps = Double.NaN;
    /** The cold copy of as many bytes as the GEMVs being timed move (NaN outside them). */
    private double sameCopyGbps = Double.NaN;

    private GemvOpenClBench(Device device, int iters, boolean quick, boolean gemvOnly, boolean attentionOnly, boolean layerTrace,
                            int[][] sizes) {
        this.device = device;
        this.iters = iters;
        this.quick = quick;
        this.gemvOnly = gemvOnly;
        this.attentionOnly = attentionOnly;
        this.layerTrace = layerTrace;
        this.sizes = sizes;
        this.coldBytes = quick ? 4L << 20 : 256L << 20;
        this.context = String.format(Locale.ROOT, "\"device\":\"%s\",\"driver\":\"%s\",\"commit\":\"%s\",\"jvm\":\"%s\"",
                device.info().name(), device.info().driverVersion(), System.getenv().getOrDefault("MMFREE_COMMIT", "unknown"),
                String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()).replace("\"", "'"));
    }

    public static void main(String[] args) {
        String selector = null;
        int iters = 50;
        int copyMib = 512;
        boolean quick = false;
        boolean gemvOnly = false;
        boolean attentionOnly = false;
        boolean layerTrace = false;
        int[][] sizes = {{2560, 6912}};
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--device" -> selector = args[++i];
                case "--iters" -> iters = Integer.parseInt(args[++i]);
                case "--copy-mib" -> copyMib = Integer.parseInt(args[++i]);
                case "--quick" -> quick = true;
                case "--gemv-only" -> gemvOnly = true;
                case "--attention-only" -> attentionOnly = true;
                case "--layer-trace" -> layerTrace = true;
                case "--sizes" -> sizes = parseSizes(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: [--device SEL] [--iters N] [--copy-mib N] [--quick] [--gemv-only] [--attention-only] [--layer-trace] [--sizes DxI,...]");
            }
        }
        OpenCl.unavailableReason().ifPresent(r -> {
            throw new IllegalStateException("OpenCL unavailable: " + r);
        });
        try (Device device = OpenCl.open(selector, true)) {
            System.out.println("# " + device.info() + ", dense " + DenseShape.forDevice(device.info()));
            new GemvOpenClBench(device, quick ? 3 : iters, quick, gemvOnly, attentionOnly, layerTrace, quick ? new int[][]{{256, 520}} : sizes)
                    .run(quick ? 16 : copyMib);
        }
    }

    /** "1024x2816,2560x6912": d x I of each size. */
    private static int[][] parseSizes(String list) {
        String[] parts = list.split(",");
        int[][] sizes = new int[parts.length][];
        for (int j = 0; j < parts.length; j++) {
            String[] di = parts[j].split("x");
            if (di.length != 2) {
                throw new IllegalArgumentException("--sizes: '" + parts[j] + "' is not DxI");
            }
            sizes[j] = new int[]{Integer.parseInt(di[0]), Integer.parseInt(di[1])};
        }
        return sizes;
    }

    private void run(int copyMib) {
        if (layerTrace) {
            copy(copyMib);   // the rate the phases' weight reads are set against
            for (int[] size : sizes) {
                for (int ctx : quick ? new int[]{40} : new int[]{128, 512}) {
                    layerTrace(size[0], size[1], quick ? 32 : 128, ctx);
                }
            }
            return;
        }
        copy(copyMib);
        int d = sizes[0][0];
        int i = sizes[0][1];
        int hd = quick ? 32 : 80;
        if (attentionOnly) {
            // {heads = kv heads, hd, ctx, b}: 370M and 2.7B decode at batch 1 (the README's contexts and longer),
            // 370M at batch 64 over 8192 positions, and the default size's cases below
            int[][] cases = quick ? new int[][]{{2, 32, 300, 1}, {2, 32, 300, 4}}
                    : new int[][]{{8, 128, 512, 1}, {8, 128, 8192, 1}, {20, 128, 228, 1}, {20, 128, 2048, 1}, {8, 128, 8192, 64}};
            for (int[] c : cases) {
                attention(c[0], c[1], c[2], c[3]);
            }
        } else {
            for (int[] size : gemvOnly ? sizes : new int[][]{sizes[0]}) {
                matrices(size[0], size[1]);
            }
        }
        if (!gemvOnly) {
            int heads = d / hd;
            for (int ctx : quick ? new int[]{300} : new int[]{2048, 8192}) {
                attention(heads, hd, ctx, 1);
            }
            attention(heads, hd, quick ? 300 : 2048, 8);
        }
        if (!gemvOnly && !attentionOnly) {
            for (int ctx : quick ? new int[]{16, 300} : new int[]{128, 2048, 8192}) {
                layer(d, i, hd, ctx);
            }
        }
        System.out.println();
        System.out.println("variant | shape | ms | GB/s | % of copy | % of same-size copy | GFLOP/s | wall ms/launch");
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "%s | %s | %.4f | %.1f | %.1f | %.1f | %.1f | %.4f%n", r.variant, r.shape, r.ms, r.gbps,
                    r.pctCopy, r.pctSame, r.gflops, r.wallMs);
        }
    }

    /** The dense GEMVs (and in the full run the GEMMs) at model size d x I, each validated, then timed. */
    private void matrices(int d, int i) {
        int v = quick ? 1000 : 32000;
        int[][] shapes = {{3 * d, d}, {2 * i, d}, {d, i}, {v, d}};
        Variant[] fused = {Variant.NORM_ROPE_KV, Variant.NORM_SWIGLU, Variant.ADD, Variant.NORM};
        String[] names = {"qkv", "gate_up", "down", "head"};
        DenseShape def = DenseShape.forDevice(device.info());
        // the default (lanes widened for few rows, as the models run it), the same without PTX, then fixed lanes
        List<DenseShape> gemvShapes = new ArrayList<>(List.of(def,
                new DenseShape(def.gemvWg(), def.lpr(), def.tm(), def.tn(), def.tk(), def.mt(), def.nt(), false)));
        for (int[] wl : new int[][]{{256, 8}, {512, 8}, {128, 16}, {256, 16}, {512, 16}, {128, 32}, {256, 32}}) {
            gemvShapes.add(new DenseShape(wl[0], wl[1], def.tm(), def.tn(), def.tk(), def.mt(), def.nt(), def.ptx()));
        }
        List<DenseShape> gemmShapes = List.of(def, new DenseShape(def.gemvWg(), def.lpr(), 128, 64, 16, 8, 4, def.ptx()),
                new DenseShape(def.gemvWg(), def.lpr(), 32, 128, 32, 2, 8, def.ptx()));
        for (Storage s : gemvOnly ? new Storage[]{Storage.F16} : Storage.values()) {
            for (int k = 0; k < shapes.length; k++) {
                int n = shapes[k][0];
                int in = shapes[k][1];
                float[] w = gaussian(n * in, 1 / Math.sqrt(in));
                try (DeviceDenseMatrix m = DeviceDenseMatrix.upload(device, s, names[k], in, List.of(w), null)) {
                    float[] wr = rounded(s, w);
                    // the GEMVs are timed cold, as in a model: in turn over copies of the weights well past the L2
                    List<DeviceDenseMatrix> copies = new ArrayList<>(List.of(m));
                    try {
                        while ((long) copies.size() * m.bytes() < coldBytes) {
                            copies.add(DeviceDenseMatrix.upload(device, s, names[k] + " copy " + copies.size(), in, List.of(w), null));
                        }
                        copySameBytes(m.bytes() + 4L * (in + n));
                        for (int c = 0; c < (s == Storage.F16 ? gemvShapes.size() : 1); c++) {
                            DenseShape ds = gemvShapes.get(c);
                            try (GemvOpenCl g = new GemvOpenCl(device, s, ds, c < 2)) {
                                dense(g, copies, wr, Variant.PLAIN, names[k], 1, false);
                                if (s == Storage.F16 && c == 0) {
                                    dense(g, copies, wr, fused[k], names[k], 1, false);
                                }
                            }
                        }
                    } finally {
                        sameCopyGbps = Double.NaN;
                        for (DeviceDenseMatrix c : copies.subList(1, copies.size())) {
                            c.close();
                        }
                    }
                    if (s == Storage.F16 && !gemvOnly) {
                        for (DenseShape ds : gemmShapes) {
                            try (GemvOpenCl g = new GemvOpenCl(device, s, ds)) {
                                for (int t : quick ? new int[]{1, 8} : new int[]{1, 8, 64, 512}) {
                                    dense(g, List.of(m), wr, Variant.PLAIN, names[k], t, true);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private void record(String variant, String shape, double ms, double bytes, double flops, double wallMs) {
        double gbps = bytes > 0 ? bytes / (ms * 1e-3) / 1e9 : 0;
        double gflops = flops > 0 ? flops / (ms * 1e-3) / 1e9 : 0;
        Result r = new Result(variant, shape, ms, gbps, 100 * gbps / copyGbps, 100 * gbps / sameCopyGbps, gflops, wallMs);
        results.add(r);
        System.out.printf(Locale.ROOT, "{\"variant\":\"%s\",\"shape\":\"%s\",\"ms\":%.5f,\"gbps\":%.2f,\"pct_copy\":%.2f,"
                + "\"pct_same_copy\":%.2f,\"gflops\":%.1f,\"wall_ms\":%.5f,\"bytes\":%.0f,%s}%n", variant, shape, ms, gbps, r.pctCopy,
                r.pctSame, gflops, wallMs, bytes, context);
    }

    /**
     * One launch's median device time over launches that take the same kernel in turn over different weights
     * (so that each finds its weights outside the L2, as in a model), and the wall-clock mean of one launch back
     * to back.
     */
    private double[] timeInTurn(List<Launch> turn) {
        for (Launch l : turn) {
            l.enqueue(device);
        }
        device.synchronize();
        double[] ms = new double[iters * turn.size()];
        int at = 0;
        for (int k = 0; k < iters; k++) {
            for (Launch l : turn) {
                try (DeviceEvent e = l.enqueueTimed(device)) {
                    ms[at++] = e.elapsedNanos() / 1e6;
                }
            }
        }
        Arrays.sort(ms);
        long t0 = System.nanoTime();
        for (int k = 0; k < iters; k++) {
            for (Launch l : turn) {
                l.enqueue(device);
            }
        }
        device.synchronize();
        return new double[]{ms[ms.length / 2], (System.nanoTime() - t0) / 1e6 / iters / turn.size()};
    }

    /** Median device time of each launch (summed over the launches) and the wall-clock mean of the sequence back to back. */
    private double[] time(Launch... seq) {
        for (int w = 0; w < 3; w++) {
            for (Launch l : seq) {
                l.enqueue(device);
            }
        }
        device.synchronize();
        double sum = 0;
        for (Launch l : seq) {
            double[] ms = new double[iters];
            for (int k = 0; k < iters; k++) {
                try (DeviceEvent e = l.enqueueTimed(device)) {
                    ms[k] = e.elapsedNanos() / 1e6;
                }
            }
            Arrays.sort(ms);
            sum += ms[iters / 2];
        }
        long t0 = System.nanoTime();
        for (int k = 0; k < iters; k++) {
            for (Launch l : seq) {
                l.enqueue(device);
            }
        }
        device.synchronize();
        return new double[]{sum, (System.nanoTime() - t0) / 1e6 / iters};
    }

    /**
     * A cold copy moving {@code bytes} ({@link ColdCopies}), timed as the GEMVs are: the roofline of a GEMV of that
     * many bytes. The GEMV lines that follow report their share of it.
     */
    private void copySameBytes(long bytes) {
        try (ColdCopies copies = new ColdCopies(device, bytes, coldBytes)) {
            double[] t = timeInTurn(copies.launches());
            sameCopyGbps = copies.bytes() / (t[0] * 1e-3) / 1e9;
            record("copy same bytes", copies.label() + " cold", t[0], copies.bytes(), 0, t[1]);
        }
    }

    private void copy(int mib) {
        long bytes = (long) mib << 20;
        try (var p = device.build("copy", ClPrograms.resource("bitlinear/copy_f32x4.cl"), "");
             DeviceBuffer a = device.allocate(MemoryCategory.WORKSPACE, bytes, "copy a");
             DeviceBuffer b = device.allocate(MemoryCategory.WORKSPACE, bytes, "copy b");
             Launch l = new Launch(p.kernel("copy_f32x4").args(a, b), new long[]{bytes / 16}, new long[]{256});
             DeviceBuffer sink = device.allocate(MemoryCategory.WORKSPACE, 4, "sink");
             Launch empty = new Launch(p.kernel("empty_launch").args(sink), new long[]{256}, new long[]{256})) {
            device.fill(a, 0x3f800000);
            double[] t = time(l);
            copyGbps = 2.0 * bytes / (t[0] * 1e-3) / 1e9;
            record("copy_f32x4", mib + " MiB", t[0], 2.0 * bytes, 0, t[1]);
            double[] e = time(empty);
            record("empty_launch", "256", e[0], 0, 0, e[1]);
        }
    }

    private float[] gaussian(int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextDouble(-1.7, 1.7) * scale);
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

    private static float[] rounded(Storage s, float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = s.round(a[i]);
        }
        return r;
    }

    /** False (and a FAILED line) when the device's result is off; the variant is then not timed. */
    private boolean validate(String variant, String shape, float[] ref, float[] got, double tol) {
        double rel = RelativeError.l2(got, ref);
        if (rel <= tol) {
            return true;
        }
        System.out.printf(Locale.ROOT, "{\"variant\":\"%s\",\"shape\":\"%s\",\"failed\":\"rel L2 %.3e > %.1e\",%s}%n",
                variant, shape, rel, tol, context);
        results.add(new Result(variant + " FAILED", shape, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN));
        return false;
    }

    /**
     * One dense variant on t rows (GEMV when t = 1 and not gemm): checked on its first rows, then timed.
     * NORM_ROPE_KV runs at angle 0 (inv_freq 0), where the rotation is the identity, so q is its stored
     * rows' outputs with each head's pairs (2j, 2j+1) moved to (j, j + hd/2).
     */
    private void dense(GemvOpenCl g, List<DeviceDenseMatrix> copies, float[] wr, Variant variant, String name, int t, boolean gemm) {
        DeviceDenseMatrix m = copies.get(0);
        int n = m.n();
        int k = m.k();
        int hd = quick ? 32 : k % 80 == 0 ? 80 : 64;   // qkv: any head size that divides d (80 at the 2.7B d of 2560)
        boolean rope = variant == Variant.NORM_ROPE_KV;
        int outW = variant == Variant.NORM_SWIGLU ? n / 2 : rope ? n / 3 : n;
        int checked = Math.min(t, CHECKED_ROWS);
        float[] x = gaussian(t * k, 1);
        float[] nw = norms(k);
        float[] y0 = gaussian(t * outW, 1);
        float[] ref = new float[checked * outW];
        float[] h = new float[k];
        float[] full = new float[n];
        for (int r = 0; r < checked; r++) {
            System.arraycopy(x, r * k, h, 0, k);
            if (variant.norm()) {
                RmsNormQuantReference.rmsNorm(h, 0, nw, h, 0, k, EPS);
            }
            LinearReference.forward(wr, n, k, h, 0, full, 0, false);
            for (int j = 0; j < outW; j++) {
                int inHead = j % hd;
                ref[r * outW + j] = switch (variant) {
                    case ADD -> y0[r * outW + j] + full[j];
                    case NORM_SWIGLU -> silu(full[2 * j]) * full[2 * j + 1];
                    case NORM_ROPE_KV -> full[j - inHead + (inHead < hd / 2 ? 2 * inHead : 2 * (inHead - hd / 2) + 1)];
                    default -> full[j];
                };
            }
        }
        String kernel = variant.kernel(gemm ? "gemm" : "gemv", g.storage());
        String plain = (gemm ? "gemm-" : "gemv-") + g.storage().suffix() + (gemm ? "-t" + t : "");
        String lanes = gemm ? "" : g.gemvLanes(n) != g.shape().lpr() ? " -> " + g.gemvLanes(n) + " lanes" : "";
        String label = (variant == Variant.PLAIN ? plain : kernel) + " [" + g.shape() + lanes + "]";
        String shape = k + "->" + n + " " + name;
        int kvw = rope ? n / 3 : 1;
        try (DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer nwb = device.upload(MemoryCategory.WEIGHTS, "norm", nw);
             DeviceBuffer y = device.allocate(MemoryCategory.WORKSPACE, 4L * t * outW, "y");
             DeviceBuffer meta = device.upload(MemoryCategory.WORKSPACE, "meta", new int[]{0, t, t, 1});
             DeviceBuffer inv = device.upload(MemoryCategory.WEIGHTS, "inv freq", new float[hd / 2]);
             DeviceBuffer kc = device.allocate(MemoryCategory.STATE, 4L * kvw * t, "k cache");
             DeviceBuffer vc = device.allocate(MemoryCategory.STATE, 4L * kvw * t, "v cache");
             DeviceBuffer split = device.allocate(MemoryCategory.WORKSPACE, g.splitScratchBytes(), "split-K sums");
             GemvOpenCl.Op op = g.op(variant, m).input(xb, 0, k).output(y).splitScratch(split)) {
            if (variant.norm()) {
                op.norm(nwb, EPS);
            }
            if (rope) {
                op.rope(meta, inv, kc, vc, kvw / hd, kvw / hd, hd, t);
            }
            device.write(y, y0);
            int splits = gemm ? op.gemmSplits(t) : 1;
            if (splits > 1) {
                label += " split " + splits;
            }
            Launch[] l = (gemm ? op.gemmLaunches(t, splits) : List.of(op.gemvLaunch())).toArray(Launch[]::new);
            for (Launch one : l) {
                one.enqueue(device);
            }
            float[] got = new float[checked * outW];
            device.read(y, 0, got, 0, got.length);
            if (!validate(label, shape, ref, got, TOL)) {
                return;
            }
            double[] tm;
            if (gemm || copies.size() == 1) {
                tm = time(l);
            } else {
                List<GemvOpenCl.Op> others = new ArrayList<>();
                try {
                    List<Launch> turn = new ArrayList<>(List.of(l));
                    for (DeviceDenseMatrix c : copies.subList(1, copies.size())) {
                        GemvOpenCl.Op o = g.op(variant, c).input(xb, 0, k).output(y).splitScratch(split);
                        others.add(o);
                        if (variant.norm()) {
                            o.norm(nwb, EPS);
                        }
                        if (rope) {
                            o.rope(meta, inv, kc, vc, kvw / hd, kvw / hd, hd, t);
                        }
                        turn.add(o.gemvLaunch());
                    }
                    tm = timeInTurn(turn);
                    shape += " cold x" + copies.size();
                } finally {
                    others.forEach(GemvOpenCl.Op::close);
                }
            }
            double bytes = (double) m.bytes() + 4.0 * t * (k + outW) + (rope ? 4.0 * t * 2 * kvw : 0);
            record(label, shape + (gemm ? " t" + t : ""), tm[0], bytes, 2.0 * t * n * k, tm[1]);
        }
    }

    private static float silu(float v) {
        return (float) (v / (1 + Math.exp(-v)));
    }

    /** Attention at batch b over ctx positions by number of splits (1, the policy's, twice that), checked on head 0. */
    private void attention(int heads, int hd, int ctx, int b) {
        int kvw = heads * hd;
        AttentionOpenCl.Shape shape = AttentionOpenCl.Shape.forDevice(device.info().gpu());
        try (AttentionOpenCl a = new AttentionOpenCl(device, Storage.F16, hd, 1, shape)) {
            float[] q = gaussian(b * kvw, 1);
            // one sequence's cache, repeated for the others (the check reads sequence 0)
            float[] kv = rounded(Storage.F16, gaussian(ctx * kvw, 1));
            byte[] one = new byte[2 * kv.length];
            for (int j = 0; j < kv.length; j++) {
                short s = Float.floatToFloat16(kv[j]);
                one[2 * j] = (byte) s;
                one[2 * j + 1] = (byte) (s >> 8);
            }
            byte[] half = new byte[Math.multiplyExact(b, one.length)];
            for (int k = 0; k < b; k++) {
                System.arraycopy(one, 0, half, k * one.length, one.length);
            }
            float[] ref = new float[hd];
            attendHead0(q, kv, ctx, kvw, hd, ref);
            int auto = a.splits(b, heads, ctx);
            for (int splits : new TreeSet<>(List.of(1, auto, 2 * auto))) {
                try (DeviceBuffer qb = device.upload(MemoryCategory.WORKSPACE, "q", q);
                     DeviceBuffer kc = device.upload(MemoryCategory.STATE, "k", half);
                     DeviceBuffer vc = device.upload(MemoryCategory.STATE, "v", half);
                     DeviceBuffer meta = device.upload(MemoryCategory.WORKSPACE, "meta", new int[]{ctx - 1, 1, b, splits});
                     DeviceBuffer out = device.allocate(MemoryCategory.WORKSPACE, 4L * b * kvw, "out");
                     DeviceBuffer part = device.allocate(MemoryCategory.WORKSPACE, 4L * b * heads * splits * (hd + 2), "part");
                     AttentionOpenCl.Op op = a.op(qb, kc, vc, meta, heads, ctx, out, part)) {
                    Launch[] seq = splits > 1 ? new Launch[]{op.attend(b, splits), op.combine(b)} : new Launch[]{op.attend(b, splits)};
                    for (Launch l : seq) {
                        l.enqueue(device);
                    }
                    float[] got = new float[hd];
                    device.read(out, 0, got, 0, hd);
                    String label = "attn-s" + splits + (splits == auto ? " (auto)" : "");
                    String sh = "ctx " + ctx + " b " + b + " H=KV " + heads + " hd " + hd;
                    if (!validate(label, sh, ref, got, TOL)) {
                        continue;
                    }
                    double[] t = time(seq);
                    record(label, sh, t[0], 2.0 * 2 * b * ctx * kvw, 4.0 * b * ctx * kvw, t[1]);
                }
            }
        }
    }

    /** Head 0 of sequence 0 in double (K and V share values here: the check only needs one cache). */
    private static void attendHead0(float[] q, float[] kv, int ctx, int kvw, int hd, float[] out) {
        double[] w = new double[ctx];
        double max = Double.NEGATIVE_INFINITY;
        for (int p = 0; p < ctx; p++) {
            double dot = 0;
            for (int j = 0; j < hd; j++) {
                dot += (double) q[j] * kv[p * kvw + j];
            }
            w[p] = dot / Math.sqrt(hd);
            max = Math.max(max, w[p]);
        }
        double sum = 0;
        for (int p = 0; p < ctx; p++) {
            w[p] = Math.exp(w[p] - max);
            sum += w[p];
        }
        for (int j = 0; j < hd; j++) {
            double acc = 0;
            for (int p = 0; p < ctx; p++) {
                acc += w[p] * kv[p * kvw + j];
            }
            out[j] = (float) (acc / sum);
        }
    }

    /**
     * The one-launch layer ({@link DenseLayerOpenCl}) built with its trace, at batch 1 over ctx positions, launched
     * in turn over copies of a layer's weights and caches that fill {@link #coldBytes} (as a deep model reads them);
     * prints {@link DenseLayerTraceReport} after the launches. The device's default groups and work-group
     * ({@value DenseLayerOpenCl#ENV} and {@value DenseLayerOpenCl#GROUPS_ENV} set them).
     */
    private void layerTrace(int d, int i, int hd, int ctx) {
        int heads = d / hd;
        DenseShape ds = DenseShape.forDevice(device.info());
        int groups = DenseLayerOpenCl.defaultGroups(device.info(), ds);
        int wg = DenseLayerOpenCl.defaultWorkGroup(device.info(), ds);
        if (groups == 0) {   // no PTX here: the layer still traces, on the GPU's defaults
            groups = Math.max(1, device.info().computeUnits());
            wg = (int) Math.min(DenseLayerOpenCl.DEFAULT_WG, Long.highestOneBit(device.info().maxWorkGroupSize()));
        }
        AttentionOpenCl.Shape as = AttentionOpenCl.Shape.forDevice(device.info().gpu());
        var dims = new DenseLayerOpenCl.Dims(d, i, heads, heads, hd);
        long layerBytes = 2L * ((long) 3 * d * d + (long) d * d + 2L * i * d + (long) d * i);
        int copies = (int) Math.max(2, (coldBytes + layerBytes - 1) / layerBytes);
        List<AutoCloseable> owned = new ArrayList<>();
        try (DenseLayerOpenCl layer = new DenseLayerOpenCl(device, Storage.F16, dims, groups, wg, ds.ptx(),
                new AttentionOpenCl.Shape(wg, as.block(), as.minShare()), true)) {
            int splits = layer.splits(ctx);
            DeviceBuffer meta = keep(owned, device.upload(MemoryCategory.WORKSPACE, "meta", new int[]{ctx - 1, 1, 1, splits}));
            DeviceBuffer inv = keep(owned, device.upload(MemoryCategory.WEIGHTS, "inv freq", norms(hd / 2)));
            DeviceBuffer x = keep(owned, device.upload(MemoryCategory.WORKSPACE, "x", gaussian(d, 1)));
            DeviceBuffer q = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 4L * d, "q"));
            DeviceBuffer attn = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 4L * d, "attn"));
            DeviceBuffer act = keep(owned, device.allocate(MemoryCategory.WORKSPACE, 4L * i, "act"));
            DeviceBuffer part = keep(owned, device.allocate(MemoryCategory.WORKSPACE, layer.partialBytes(), "part"));
            List<DenseLayerOpenCl.Op> ops = new ArrayList<>();
            for (int c = 0; c < copies; c++) {
                var w = new DenseLayerOpenCl.Weights(
                        keep(owned, device.upload(MemoryCategory.WEIGHTS, "input norm", norms(d))),
                        keep(owned, DeviceDenseMatrix.upload(device, Storage.F16, "qkv", d, List.of(gaussian(3 * d * d, 0.02)),
                                DeviceDenseMatrix.ropePairOrder(3 * heads, hd))),
                        keep(owned, DeviceDenseMatrix.upload(device, Storage.F16, "o", d, List.of(gaussian(d * d, 0.02)), null)),
                        keep(owned, device.upload(MemoryCategory.WEIGHTS, "post norm", norms(d))),
                        keep(owned, DeviceDenseMatrix.upload(device, Storage.F16, "gate_up", d, List.of(gaussian(2 * i * d, 0.02)), null)),
                        keep(owned, DeviceDenseMatrix.upload(device, Storage.F16, "down", i, List.of(gaussian(d * i, 0.02)), null)));
                DeviceBuffer kc = keep(owned, device.allocate(MemoryCategory.STATE, 2L * ctx * d, "k cache"));
                DeviceBuffer vc = keep(owned, device.allocate(MemoryCategory.STATE, 2L * ctx * d, "v cache"));
                device.fill(kc, 0);
                device.fill(vc, 0);
                ops.add(keep(owned, layer.op(w, EPS, inv, meta, x, q, attn, act, part, kc, vc, ctx)));
            }
            DenseLayerTraceReport report = new DenseLayerTraceReport(groups);
            byte[] raw = new byte[(int) ops.get(0).trace().bytes()];
            List<Launch> launches = ops.stream().map(DenseLayerOpenCl.Op::launch).toList();   // the ops own the kernels
            for (int k = 0; k < iters + copies; k++) {
                launches.get(k % copies).enqueue(device);
                device.read(ops.get(k % copies).trace(), raw);
                if (k >= copies) {   // each copy's first launch warms the program and the caches' pages
                    report.add(raw);
                }
            }
            layer.checkSync();
            System.out.printf(Locale.ROOT, "# layer trace: d %d, I %d, hd %d, ctx %d, splits %d, %d x %d work-items, %d layers in turn%n",
                    d, i, hd, ctx, splits, groups, wg, copies);
            report.lines().forEach(line -> System.out.println("# " + line));
            int dPad = DeviceDenseMatrix.padded(d);
            long[] phaseBytes = {2L * 3 * d * dPad, 2L * d * dPad, 2L * 2 * i * dPad, 2L * d * DeviceDenseMatrix.padded(i)};
            report.phases(phaseBytes, copyGbps).forEach(line -> System.out.println("# " + line));
        } finally {
            for (int k = owned.size() - 1; k >= 0; k--) {
                try {
                    owned.get(k).close();
                } catch (Exception e) {
                    throw new IllegalStateException("closing " + owned.get(k), e);
                }
            }
        }
    }

    private static <T extends AutoCloseable> T keep(List<AutoCloseable> owned, T resource) {
        owned.add(resource);
        return resource;
    }

    /** One decoder layer's launches at batch 1 and context ctx, back to back (random weights). */
    private void layer(int d, int i, int hd, int ctx) {
        int heads = d / hd;
        DenseShape ds = DenseShape.forDevice(device.info());
        try (GemvOpenCl g = new GemvOpenCl(device, Storage.F16, ds);
             AttentionOpenCl a = new AttentionOpenCl(device, Storage.F16, hd, 1, AttentionOpenCl.Shape.forDevice(device.info().gpu()));
             DeviceDenseMatrix qkv = DeviceDenseMatrix.upload(device, Storage.F16, "qkv", d, List.of(gaussian(3 * d * d, 0.02)),
                     DeviceDenseMatrix.ropePairOrder(3 * heads, hd));
             DeviceDenseMatrix o = DeviceDenseMatrix.upload(device, Storage.F16, "o", d, List.of(gaussian(d * d, 0.02)), null);
             DeviceDenseMatrix gu = DeviceDenseMatrix.upload(device, Storage.F16, "gate_up", d, List.of(gaussian(2 * i * d, 0.02)), null);
             DeviceDenseMatrix down = DeviceDenseMatrix.upload(device, Storage.F16, "down", i, List.of(gaussian(d * i, 0.02)), null);
             DeviceBuffer x = device.upload(MemoryCategory.WORKSPACE, "x", gaussian(d, 1));
             DeviceBuffer nd = device.upload(MemoryCategory.WEIGHTS, "norm", norms(d));
             DeviceBuffer inv = device.upload(MemoryCategory.WEIGHTS, "inv freq", norms(hd / 2));
             DeviceBuffer q = device.allocate(MemoryCategory.WORKSPACE, 4L * d, "q");
             DeviceBuffer attn = device.allocate(MemoryCategory.WORKSPACE, 4L * d, "attn");
             DeviceBuffer act = device.allocate(MemoryCategory.WORKSPACE, 4L * i, "act");
             DeviceBuffer kc = device.allocate(MemoryCategory.STATE, 2L * ctx * d, "k cache");
             DeviceBuffer vc = device.allocate(MemoryCategory.STATE, 2L * ctx * d, "v cache")) {
            device.fill(kc, 0);
            device.fill(vc, 0);
            int splits = a.splits(1, heads, ctx);
            try (DeviceBuffer meta = device.upload(MemoryCategory.WORKSPACE, "meta", new int[]{ctx - 1, 1, 1, splits});
                 DeviceBuffer part = device.allocate(MemoryCategory.WORKSPACE, a.partialBytes(1, heads, heads), "part");
                 GemvOpenCl.Op qkvOp = g.op(Variant.NORM_ROPE_KV, qkv).input(x, 0, d).output(q).norm(nd, EPS)
                         .rope(meta, inv, kc, vc, heads, heads, hd, ctx);
                 AttentionOpenCl.Op att = a.op(q, kc, vc, meta, heads, ctx, attn, part);
                 GemvOpenCl.Op oOp = g.op(Variant.ADD, o).input(attn, 0, d).output(x);
                 GemvOpenCl.Op mlp = g.op(Variant.NORM_SWIGLU, gu).input(x, 0, d).output(act).norm(nd, EPS);
                 GemvOpenCl.Op downOp = g.op(Variant.ADD, down).input(act, 0, i).output(x)) {
                List<Launch> seq = new ArrayList<>(qkvOp.launches(1));
                seq.add(att.attend(1, splits));
                if (splits > 1) {
                    seq.add(att.combine(1));
                }
                seq.addAll(oOp.launches(1));
                seq.addAll(mlp.launches(1));
                seq.addAll(downOp.launches(1));
                double[] t = time(seq.toArray(Launch[]::new));
                double bytes = qkv.bytes() + o.bytes() + gu.bytes() + down.bytes() + 2.0 * 2 * ctx * d;
                record("layer-" + seq.size() + "-launches", "d " + d + " I " + i + " ctx " + ctx + " splits " + splits,
                        t[0], bytes, 0, t[1]);
            }
        }
    }
}
