package dev.mmfree.kernels.gemv;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Dense layers of the Transformer++ baseline on OpenCL: {@code y = epilogue(W prologue(x))} with W
 * stored fp16 or fp32 ({@link DeviceDenseMatrix}) and float32 math, plus the embedding lookup.
 *
 * <ul>
 *   <li>{@code gemv_*}: one activation row (decode at batch 1): 8 to 32 lanes per weight row (more for
 *       matrices with few rows, {@link DenseShape#gemvLanes}), 16-byte loads, x staged in local memory.</li>
 *   <li>{@code gemm_*}: t rows (prefill, batched decode): register-tiled, each weight read once per tile of
 *       rows, the tile's row count fitted to t, split along K (plus a {@code gemm_reduce_*} launch) when there
 *       are too few tiles to fill the device.</li>
 * </ul>
 * {@link Variant}s fuse the RMSNorm in front (each group normalizes x itself: no norm launch) and a
 * residual add, SwiGLU, or rotary embedding + KV-cache write behind, so a decoder layer is five
 * launches (six when attention splits the context). Kernels {@code <base>_<storage>_f32}, e.g.
 * {@code gemv_norm_rope_kv_f16_f32}; sources {@code gemv/dense_common.cl}, {@code gemv.cl}, {@code gemm.cl},
 * {@code rows_gather.cl}. Tests: {@code ./mvnw -o -pl kernels -am test -Dtest=GemvOpenClTest};
 * GPU timing: {@link GemvOpenClBench}.
 */
public final class GemvOpenCl implements AutoCloseable {
    static final String[] SOURCES = {"opencl/half8.cl", "gemv/dense_common.cl", "gemv/gemv.cl", "gemv/gemm.cl", "gemv/rows_gather.cl"};

    /** Prologue and epilogue of a dense layer. */
    public enum Variant {
        /** y = W x */
        PLAIN("", false),
        /** y += W x (a residual add) */
        ADD("_add", false),
        /** y = W RMSNorm(x) */
        NORM("_norm", true),
        /** act = silu(gate) * up with [gate; up] = W RMSNorm(x), rows interleaved ({@link DeviceDenseMatrix#interleaveOrder}) */
        NORM_SWIGLU("_norm_swiglu", true),
        /** [q; k; v] = W RMSNorm(x), q and k rotated, q stored, k and v written into the KV cache ({@link DeviceDenseMatrix#ropePairOrder}) */
        NORM_ROPE_KV("_norm_rope_kv", true);

        private final String part;
        private final boolean norm;

        Variant(String part, boolean norm) {
            this.part = part;
            this.norm = norm;
        }

        public boolean norm() {
            return norm;
        }

        public boolean paired() {
            return this == NORM_SWIGLU || this == NORM_ROPE_KV;
        }

        public String kernel(String op, Storage s) {
            return op + part + "_" + s.suffix() + "_f32";
        }

        /** The split-K reduction that applies this variant's epilogue. */
        public String reduceKernel(Storage s) {
            String epilogue = switch (this) {
                case PLAIN, NORM -> "";
                case ADD -> "_add";
                case NORM_SWIGLU -> "_swiglu";
                case NORM_ROPE_KV -> "_rope_kv";
            };
            return "gemm_reduce" + epilogue + "_" + s.suffix() + "_f32";
        }

        int argCount() {
            return this == NORM_ROPE_KV ? 19 : norm ? 11 : 9;
        }
    }

    private final Device device;
    private final Storage storage;
    private final DenseShape shape;
    private final boolean widen;
    private final String source;
    private final DeviceProgram program;
    /** Programs built for GEMVs at other lanes per row than the shape's, by lanes. */
    private final Map<Integer, DeviceProgram> lanePrograms = new HashMap<>();

    /** Builds the dense program for weights and KV cache in {@code storage}; GEMVs widen their lanes for few rows. */
    public GemvOpenCl(Device device, Storage storage, DenseShape shape) {
        this(device, storage, shape, true);
    }

    /**
     * As {@link #GemvOpenCl(Device, Storage, DenseShape)}; with {@code widen} false every GEMV runs at the shape's
     * lanes per row (to time one shape), else at {@link DenseShape#gemvLanes} for its rows.
     */
    public GemvOpenCl(Device device, Storage storage, DenseShape shape, boolean widen) {
        this.device = device;
        this.storage = storage;
        this.shape = shape;
        this.widen = widen;
        ClPrograms.checkLocal(device, "gemm_" + storage.suffix() + "_f32", shape.gemmLocalBytes());
        StringBuilder src = new StringBuilder();
        for (String s : SOURCES) {
            src.append("// ---- ").append(s).append('\n').append(ClPrograms.resource(s)).append('\n');
        }
        this.source = src.toString();
        this.program = build(shape);
    }

    private DeviceProgram build(DenseShape s) {
        String options = "-cl-std=CL1.2 -DWSUF=" + storage.suffix() + (storage == Storage.F16 ? " -DW_F16 -DKV_F16" : "")
                + s.options();
        return device.build("dense " + storage.suffix() + (s == shape ? "" : " gemv " + s.lpr() + " lanes"), source, options);
    }

    /** Lanes per row of a GEMV over n rows. */
    public int gemvLanes(int n) {
        return widen ? shape.gemvLanes(n, device.info().computeUnits()) : shape.lpr();
    }

    private DeviceProgram gemvProgram(int lanes) {
        return lanes == shape.lpr() ? program : lanePrograms.computeIfAbsent(lanes, l -> build(shape.withLanes(l)));
    }

    public Device device() {
        return device;
    }

    public Storage storage() {
        return storage;
    }

    public DenseShape shape() {
        return shape;
    }

    /** A dense layer with w bound; set its buffers, then launch it any number of times. */
    public Op op(Variant variant, DeviceDenseMatrix w) {
        if (w.storage() != storage) {
            throw new MmfreeException(variant.kernel("gemv", storage) + ": matrix " + w + " is stored " + w.storage().suffix());
        }
        if (variant.paired() && w.n() % 2 != 0) {
            throw new MmfreeException(variant.kernel("gemv", storage) + ": paired rows need an even n, " + w + " has " + w.n());
        }
        return new Op(variant, w);
    }

    /** The embedding lookup x[r] = table[ids[idsOff + r]] (float32 out) for r < rows. */
    public Gather gather(DeviceDenseMatrix table, DeviceBuffer ids, int idsOff, DeviceBuffer x) {
        if (table.storage() != storage) {
            throw new MmfreeException("rows_gather: table " + table + " is not stored " + storage.suffix());
        }
        return new Gather(table, ids, idsOff, x);
    }

    /** Groups a GEMM launch aims for: four per compute unit; fewer tiles than that are split along K. */
    private int targetGroups() {
        return 4 * Math.max(1, device.info().computeUnits());
    }

    /**
     * Bytes of a split-K scratch buffer that lets every op of this program split as far as its policy
     * wants: splits * rows * n <= (target + tiles) * tm * tn with tiles < target.
     */
    public long splitScratchBytes() {
        return 4L * 2 * targetGroups() * shape.tm() * shape.tn();
    }

    /** One dense layer; arguments stay set between launches. */
    public final class Op implements AutoCloseable {
        private final Variant variant;
        private final DeviceDenseMatrix w;
        private final Object[] args;
        private DeviceKernel gemv;
        private long gemvGroups;
        private DeviceKernel gemm;
        private DeviceKernel reduce;
        private int gemmRows = -1;
        private DeviceBuffer x;
        private int xOff;
        private int xStride;
        private DeviceBuffer y;
        private DeviceBuffer scratch;

        private Op(Variant variant, DeviceDenseMatrix w) {
            this.variant = variant;
            this.w = w;
            this.args = new Object[variant.argCount()];
            set(0, w.buffer());
            set(1, w.n());
            set(2, w.k());
            set(3, w.kPad());
            set(7, 1);
        }

        /** Output rows per activation row: n, or n / 2 for the paired SwiGLU. */
        public int outWidth() {
            return variant == Variant.NORM_SWIGLU ? w.n() / 2 : w.n();
        }

        /** Activation row r is x[xOff + r * xStride, + k) (floats). */
        public Op input(DeviceBuffer x, int xOff, int xStride) {
            this.x = x;
            this.xOff = xOff;
            this.xStride = xStride;
            set(4, x);
            set(5, xOff);
            return set(6, xStride);
        }

        /** [rows, outWidth] float32; for NORM_ROPE_KV the queries [rows, H*hd]. */
        public Op output(DeviceBuffer y) {
            this.y = y;
            return set(8, y);
        }

        /** The RMSNorm in front: weights [k] float32 and eps. */
        public Op norm(DeviceBuffer weights, float eps) {
            require(variant.norm(), "norm");
            set(9, weights);
            return set(10, eps);
        }

        /**
         * The rotary embedding and cache write behind NORM_ROPE_KV.
         *
         * @param meta    [pos0, tps, ...] int: first position of the call, tokens per sequence
         * @param invFreq [hd/2] float32
         * @param kc      keys [b, cap, KV*hd] in the storage type; vc values likewise
         */
        public Op rope(DeviceBuffer meta, DeviceBuffer invFreq, DeviceBuffer kc, DeviceBuffer vc, int heads, int kvHeads,
                       int hd, int cap) {
            require(variant == Variant.NORM_ROPE_KV, "rope");
            if ((long) (heads + 2 * kvHeads) * hd != w.n()) {
                throw new MmfreeException(name() + ": (H " + heads + " + 2 KV " + kvHeads + ") * hd " + hd + " != rows " + w.n());
            }
            set(11, meta);
            set(12, invFreq);
            set(13, kc);
            set(14, vc);
            set(15, heads);
            set(16, kvHeads);
            set(17, hd / 2);
            return set(18, cap);
        }

        /** Scratch for split-K partial sums ({@link #splitScratchBytes}); without it the GEMM never splits. */
        public Op splitScratch(DeviceBuffer part) {
            this.scratch = part;
            if (gemm != null) {
                gemm.arg(args.length, part);
            }
            return this;
        }

        /** True when one activation row fits the GEMV's local staging. */
        public boolean gemvFits() {
            return 4L * w.kPad() + 4L * shape.gemvWg() <= device.info().localMemBytes();
        }

        /** The launches for {@code rows} activation rows: the GEMV for one row, else the GEMM (split along K when it helps). */
        public List<Launch> launches(int rows) {
            return rows == 1 && gemvFits() ? List.of(gemvLaunch()) : gemmLaunches(rows, gemmSplits(rows));
        }

        /** Enqueues {@link #launches}. */
        public void enqueue(int rows) {
            for (Launch l : launches(rows)) {
                l.enqueue(device);
            }
        }

        public Launch gemvLaunch() {
            check(1);
            if (gemv == null) {
                int lanes = gemvLanes(w.n());
                gemv = apply(gemvProgram(lanes).kernel(variant.kernel("gemv", storage)));
                gemv.argLocal(args.length, 4L * w.kPad());
                gemvGroups = shape.gemvGroups(w.n(), lanes);
            }
            return new Launch(gemv, new long[]{gemvGroups * shape.gemvWg()}, new long[]{shape.gemvWg()});
        }

        /** Activation rows per GEMM tile for {@code rows}: mt times a power of two, at most tm. */
        public int tileRows(int rows) {
            int blocks = (rows + shape.mt() - 1) / shape.mt();
            return Math.min(shape.tm(), shape.mt() * Integer.highestOneBit(Math.max(1, 2 * blocks - 1)));
        }

        /** Splits along K for {@code rows}: enough for {@link #targetGroups} groups, each split at least 4 K steps. */
        public int gemmSplits(int rows) {
            if (scratch == null) {
                return 1;
            }
            long tiles = (long) ((w.n() + shape.tn() - 1) / shape.tn()) * ((rows + tileRows(rows) - 1) / tileRows(rows));
            long steps = (w.kPad() + shape.tk() - 1) / shape.tk();
            long want = Math.min((targetGroups() + tiles - 1) / tiles, steps / 4);
            long fits = scratch.bytes() / (4L * rows * w.n());
            return (int) Math.max(1, Math.min(want, fits));
        }

        /** The GEMM on {@code rows} rows in {@code splits} K ranges, and the reduction when splits > 1. */
        public List<Launch> gemmLaunches(int rows, int splits) {
            check(rows);
            if (splits > 1 && (scratch == null || scratch.bytes() < 4L * splits * rows * w.n())) {
                throw new MmfreeException(name() + ": " + splits + " splits of " + rows + " rows need a scratch of "
                        + 4L * splits * rows * w.n() + " bytes, have " + (scratch == null ? "none" : scratch.bytes()));
            }
            if (gemm == null) {
                gemm = apply(program.kernel(variant.kernel("gemm", storage)));
                gemm.arg(args.length, scratch != null ? scratch : y);
                gemmRows = 1;
            }
            if (rows != gemmRows) {
                gemm.arg(7, rows);
                gemmRows = rows;
            }
            int tm = tileRows(rows);
            long wg = (long) tm / shape.mt() * (shape.tn() / shape.nt());
            long tiles = (w.n() + shape.tn() - 1) / shape.tn();
            Launch main = new Launch(gemm, new long[]{tiles * wg, (rows + tm - 1) / tm, splits}, new long[]{wg, 1, 1});
            if (splits == 1) {
                return List.of(main);
            }
            if (reduce == null) {
                reduce = program.kernel(variant.reduceKernel(storage));
            }
            reduce.args(scratch, splits, rows, w.n(), y);
            if (variant == Variant.NORM_ROPE_KV) {
                for (int i = 11; i < args.length; i++) {
                    apply(reduce, i, i - 6);
                }
            }
            int width = variant.paired() ? w.n() / 2 : w.n();
            return List.of(main, new Launch(reduce, new long[]{ClPrograms.roundUp((long) rows * width, 256)}, new long[]{256}));
        }

        private void check(int rows) {
            for (int i = 0; i < args.length; i++) {
                if (args[i] == null) {
                    throw new MmfreeException(name() + ": argument " + i + " not set (input, output, norm, rope)");
                }
            }
            long needX = 4L * (xOff + (long) (rows - 1) * xStride + w.k());
            if (x.bytes() < needX) {
                throw new MmfreeException(name() + ": input " + x.role() + " has " + x.bytes() + " bytes, " + rows + " rows need " + needX);
            }
            long width = variant == Variant.NORM_ROPE_KV ? (long) (int) args[15] * 2 * (int) args[17] : outWidth();
            long needY = 4L * rows * width;
            if (y.bytes() < needY) {
                throw new MmfreeException(name() + ": output " + y.role() + " has " + y.bytes() + " bytes, " + rows + " rows need " + needY);
            }
        }

        private Op set(int index, Object value) {
            args[index] = value;
            for (DeviceKernel k : new DeviceKernel[]{gemv, gemm}) {
                if (k != null) {
                    apply(k, index, index);
                }
            }
            return this;
        }

        private DeviceKernel apply(DeviceKernel k) {
            for (int i = 0; i < args.length; i++) {
                if (args[i] != null) {
                    apply(k, i, i);
                }
            }
            return k;
        }

        private void apply(DeviceKernel k, int from, int to) {
            switch (args[from]) {
                case DeviceBuffer b -> k.arg(to, b);
                case Integer v -> k.arg(to, v);
                case Float v -> k.arg(to, v);
                default -> throw new IllegalStateException();
            }
        }

        private void require(boolean ok, String what) {
            if (!ok) {
                throw new MmfreeException(name() + ": variant " + variant + " takes no " + what);
            }
        }

        private String name() {
            return variant.kernel("gemv", storage) + " on " + w;
        }

        @Override
        public void close() {
            for (DeviceKernel k : new DeviceKernel[]{gemv, gemm, reduce}) {
                if (k != null) {
                    k.close();
                }
            }
        }
    }

    /** The bound embedding lookup. */
    public final class Gather implements AutoCloseable {
        private final DeviceKernel kernel;
        private final DeviceDenseMatrix table;
        private final DeviceBuffer x;

        private Gather(DeviceDenseMatrix table, DeviceBuffer ids, int idsOff, DeviceBuffer x) {
            this.table = table;
            this.x = x;
            this.kernel = program.kernel("rows_gather_" + storage.suffix() + "_f32")
                    .args(table.buffer(), table.kPad(), ids, idsOff, x, table.k());
        }

        public Launch launch(int rows) {
            if (x.bytes() < 4L * rows * table.k()) {
                throw new MmfreeException("rows_gather: output " + x.role() + " has " + x.bytes() + " bytes for " + rows + " rows of " + table.k());
            }
            return new Launch(kernel, new long[]{ClPrograms.roundUp(table.k(), 64), rows}, new long[]{64, 1});
        }

        @Override
        public void close() {
            kernel.close();
        }
    }

    @Override
    public void close() {
        lanePrograms.values().forEach(DeviceProgram::close);
        lanePrograms.clear();
        program.close();
    }
}
