package dev.mmfree.kernels.gemv;

import dev.mmfree.kernels.attention.AttentionOpenCl;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.GridBarriers;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;

import java.nio.ByteBuffer;

/**
 * A whole Transformer++ decoder layer of one batch-1 decode step in one launch ({@code
 * decode_layer_dense_<storage>_f32}, source {@code gemv/decode_layer_dense.cl}): the five launches of
 * {@link GemvOpenCl} and {@link AttentionOpenCl} (qkv with RoPE and the cache write, attention, o_proj, gate|up
 * with SwiGLU, down_proj) as phases of one kernel on one work-group per compute unit, with grid barriers
 * ({@link GridBarriers}) between them. On the H200 a launch costs about 5.5 us, so this takes four of them out
 * of every layer, as {@code decode_layer_t2_f32} does for the MatMul-free model.
 *
 * <p>Each GEMV phase gives every work-group a contiguous range of about n / G rows and picks its lanes per row
 * so that the range is one pass with row slots to spare where it can ({@link #lanes}); where the range takes two
 * passes or more, its lanes load eight 16-byte words at once instead of four ({@link #deep}). The attention phase runs S splits of the context
 * ({@link #splits}); when S > 1 every work-group merges them as it stages o_proj's input, which saves a barrier.
 *
 * <p>It is on by default only on GPUs that take NVIDIA's inline PTX ({@link DenseShape#ptx}), where it has
 * been measured; {@value #ENV} turns it off or sets its work-group. Tests: {@code ./mvnw -o -pl kernels -am
 * test -Dtest=DenseLayerOpenClTest}.
 */
public final class DenseLayerOpenCl implements AutoCloseable {
    public static final String KERNEL = "decode_layer_dense";
    /**
     * Env switch: {@code 0} for five launches a layer, or the work-group size of the one-launch layer (a power of
     * two, 64 to 1024); default {@value #DEFAULT_WG} on a GPU with inline PTX, off elsewhere.
     */
    public static final String ENV = "MMFREE_DENSE_LAYER";
    /** Env: the one-launch layer's work-groups (default: the GPU's compute units); all must fit on the device at once. */
    public static final String GROUPS_ENV = "MMFREE_DENSE_LAYER_GROUPS";
    /**
     * The default work-group. On the H200 (Transformer++ 2.7B, batch 1) 512 work-items gave 292.5 tokens/s against
     * 261.9 for 1024, which caps a work-item at 64 registers ({@code bench/results/nvidia-h200/2026-11-29/dense-layer}).
     */
    public static final int DEFAULT_WG = 512;
    /** Marks a work-group stamps in a traced build ({@code DENSE_MARKS} in the kernel), two longs each: ns, cycles. */
    public static final int TRACE_MARKS = 14;

    /** The layer's sizes. */
    public record Dims(int hidden, int intermediate, int heads, int kvHeads, int headDim) {
        public Dims {
            if (hidden < 1 || intermediate < 1 || heads < 1 || kvHeads < 1 || heads % kvHeads != 0 || headDim < 2
                    || headDim % 2 != 0) {
                throw new MmfreeException(KERNEL + ": dims d " + hidden + ", I " + intermediate + ", H " + heads + ", KV "
                        + kvHeads + ", hd " + headDim + " (positive, KV divides H, hd even)");
            }
        }

        int qkvRows() {
            return (heads + 2 * kvHeads) * headDim;
        }
    }

    /** One layer's weights as the five-launch path holds them. */
    public record Weights(DeviceBuffer inputNorm, DeviceDenseMatrix qkv, DeviceDenseMatrix o, DeviceBuffer postNorm,
                          DeviceDenseMatrix gateUp, DeviceDenseMatrix down) {
    }

    private final Device device;
    private final Storage storage;
    private final Dims dims;
    private final int groups;
    private final int wg;
    private final AttentionOpenCl.Shape attention;
    private final long localBytes;
    private final boolean traced;
    private final DeviceProgram program;
    private final GridBarriers barriers;

    /**
     * Work-groups of the one-launch layer by default: the compute units of a GPU whose dense shape takes inline
     * PTX ({@value #GROUPS_ENV} sets another count), unless {@value #ENV} is 0; else 0 (five launches a layer).
     */
    public static int defaultGroups(DeviceInfo info, DenseShape shape) {
        if (defaultWorkGroup(info, shape) == 0) {
            return 0;
        }
        String env = System.getenv(GROUPS_ENV);
        if (env == null || env.isBlank()) {
            return info.computeUnits();
        }
        try {
            int v = Integer.parseInt(env.strip());
            if (v >= 1) {
                return v;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new MmfreeException("env " + GROUPS_ENV + " must be the one-launch layer's work-groups, at least 1, got '" + env + "'");
    }

    /** The work-group of the one-launch layer by default ({@value #ENV}), 0 when it is off. */
    public static int defaultWorkGroup(DeviceInfo info, DenseShape shape) {
        String env = System.getenv(ENV);
        if (env == null || env.isBlank()) {
            return info.gpu() && shape.ptx() ? DEFAULT_WG : 0;
        }
        try {
            int v = Integer.parseInt(env.strip());
            if (v == 0 || (Integer.bitCount(v) == 1 && v >= 64 && v <= 1024)) {
                return v;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new MmfreeException("env " + ENV + " must be 0 (five launches a layer) or the one-launch layer's work-group, "
                + "a power of two from 64 to 1024, got '" + env + "'");
    }

    /**
     * @param groups    work-groups a launch, at most one per compute unit of a GPU (see {@code opencl/grid.cl})
     * @param wg        work-items a work-group: a power of two >= the head dim and >= 64
     * @param attention the attention's block of positions in local memory and fewest positions a split takes
     *                  (its work-group is {@code wg})
     */
    public DenseLayerOpenCl(Device device, Storage storage, Dims dims, int groups, int wg, boolean ptx,
                            AttentionOpenCl.Shape attention) {
        this(device, storage, dims, groups, wg, ptx, attention, false);
    }

    /**
     * traced: a diagnostic build whose work-groups stamp the clock at {@value #TRACE_MARKS} marks of each launch into
     * {@link Op#trace} (the marks are listed in {@code gemv/decode_layer_dense.cl}; zeros without inline PTX).
     */
    public DenseLayerOpenCl(Device device, Storage storage, Dims dims, int groups, int wg, boolean ptx,
                            AttentionOpenCl.Shape attention, boolean traced) {
        if (groups < 1) {
            throw new MmfreeException(KERNEL + ": groups must be >= 1, got " + groups);
        }
        if (Integer.bitCount(wg) != 1 || wg < 64 || wg > 1024 || wg < dims.headDim() || wg > device.info().maxWorkGroupSize()) {
            throw new MmfreeException(KERNEL + ": work-group " + wg + " must be a power of two from 64 to 1024, at least the head dim "
                    + dims.headDim() + " and at most the device's " + device.info().maxWorkGroupSize());
        }
        this.device = device;
        this.storage = storage;
        this.dims = dims;
        this.groups = groups;
        this.wg = wg;
        this.attention = attention;
        this.traced = traced;
        int g = dims.heads() / dims.kvHeads();
        this.localBytes = localBytes(dims, wg, attention);
        ClPrograms.checkLocal(device, kernelName(), localBytes);
        String options = "-cl-std=CL1.2 -DWSUF=" + storage.suffix() + (storage == Storage.F16 ? " -DW_F16 -DKV_F16" : "")
                + " -DGEMV_WG=" + wg + " -DHD=" + dims.headDim() + " -DG=" + g + " -DAWG=" + wg + " -DCH=" + attention.block()
                + " -DLPR_QKV=" + lanes(dims.qkvRows()) + " -DLPR_O=" + lanes(dims.hidden())
                + " -DLPR_GU=" + lanes(2 * dims.intermediate()) + " -DLPR_DOWN=" + lanes(dims.hidden())
                + " -DDEEP_QKV=" + deep(dims.qkvRows(), dims.hidden())
                + " -DDEEP_O=" + deep(dims.hidden(), dims.heads() * dims.headDim())
                + " -DDEEP_GU=" + deep(2 * dims.intermediate(), dims.hidden())
                + " -DDEEP_DOWN=" + deep(dims.hidden(), dims.intermediate())
                + " -DATTN_FRESH=1" + (ptx ? " -DMMFREE_PTX=1" : "") + (traced ? " -DMMFREE_TRACE=1" : "");
        String source = String.join("\n", ClPrograms.resource("opencl/clocks.cl"), ClPrograms.resource("opencl/half8.cl"),
                ClPrograms.resource("gemv/dense_common.cl"),
                ClPrograms.resource("attention/attention_common.cl"), GridBarriers.source(device.info()),
                ClPrograms.resource("gemv/decode_layer_dense.cl"));
        this.program = device.build("dense layer " + storage.suffix() + " " + groups + "x" + wg + (traced ? " traced" : ""),
                source, options);
        this.barriers = new GridBarriers(device, kernelName(), "five launches a layer need no barrier: set " + ENV + "=0");
    }

    /** Local memory a work-group takes: the staged input and its sums, or the attention's query, scores and sums. */
    public static long localBytes(Dims dims, int wg, AttentionOpenCl.Shape attention) {
        long stage = DeviceDenseMatrix.padded(Math.max(Math.max(dims.hidden(), dims.heads() * dims.headDim()), dims.intermediate())) + wg;
        long attend = (long) dims.heads() / dims.kvHeads() * (dims.headDim() + attention.block() + wg);
        return 4L * Math.max(stage, attend);
    }

    public String kernelName() {
        return KERNEL + "_" + storage.suffix() + "_f32";
    }

    public int groups() {
        return groups;
    }

    public int workGroup() {
        return wg;
    }

    /** Whether this is the diagnostic build that stamps {@link Op#trace}. */
    public boolean traced() {
        return traced;
    }

    /**
     * Lanes per row of a GEMV over n rows: from 8, doubled (up to 32, a warp) while the doubled lanes still leave a
     * work-group more row slots in one pass than its range's rows (an even ceil(n / G)); so 8 lanes and several
     * passes for wide matrices. A range that would fill the slots exactly keeps the lanes before: at 1.3B, o_proj and
     * down_proj (16 rows a group) at 16 lanes decoded 737.7-739.0 tokens/s against 675.6-676.7 at 32, which fill
     * the group; 8 or 24 lanes were slower, as were 8, 20, 24 or 32 at 2.7B (20 rows, 16 lanes) and 8 or 16 at 370M
     * (8 rows, 32 lanes) (bench/results/nvidia-h200/2026-11-29/deep-words).
     */
    public int lanes(int n) {
        long per = ((n + (long) groups - 1) / groups + 1) & ~1L;
        int lanes = 8;
        while (lanes < 32 && (long) (wg / (2 * lanes)) > per && wg / (2 * lanes) >= 2) {
            lanes *= 2;
        }
        return lanes;
    }

    /**
     * 1 where a GEMV of n rows of k weights loads eight 16-byte words a lane at once instead of four: where a
     * work-group takes its rows in two passes or more at {@link #lanes}, and every lane has at least two rounds of
     * eight words. Measured on the H200 (bench/results/nvidia-h200/2026-11-29/deep-words): eight words took the
     * layer's gate|up from 85.7 to 91.5% of a copy's rate at 2.7B (106 rows a group, two passes of 64) and 1.3B decode
     * from 670 to 681 tokens/s; they made o_proj and down_proj slower at 2.7B (20 rows a group, one pass: 57 to 53%
     * and 68 to 64%), qkv at 370M (46 to 40%), and 1.3B decode with qkv (48 rows, one pass) deep, 670 to 660.
     */
    public int deep(int n, int k) {
        long per = ((n + (long) groups - 1) / groups + 1) & ~1L;
        int lanes = lanes(n);
        long rows = wg / lanes;
        long words = DeviceDenseMatrix.padded(k) / 8 / lanes;
        return per > rows && words >= 16 ? 1 : 0;
    }

    /**
     * Splits of the context at {@code positions} keys: one up to the attention shape's fewest positions a
     * split, else as many as shares of at least that many positions give, at most one (split, kv head) task
     * a work-group.
     */
    public int splits(int positions) {
        if (positions <= attention.minShare()) {
            return 1;
        }
        long most = (positions + attention.minShare() - 1) / attention.minShare();
        return (int) Math.max(1, Math.min(most, groups / dims.kvHeads()));
    }

    /** Bytes of the split results at {@link #splits}'s most: S * H * (hd + 2) floats. */
    public long partialBytes() {
        return 4L * Math.max(1, groups / dims.kvHeads()) * dims.heads() * (dims.headDim() + 2);
    }

    /**
     * One layer bound to its weights and buffers.
     *
     * @param meta    [4] int: pos0, tps = 1, rows = 1, S = {@link #splits}(pos0 + 1)
     * @param x       [d] f32 the residual stream, updated in place
     * @param q       [H hd] f32 rotated queries; attn [H hd] f32 the heads' outputs; act [I] f32
     * @param part    split results, at least {@link #partialBytes}
     * @param kc      keys [1, cap, KV hd] in the storage type; vc the values
     * @param invFreq [hd / 2] f32
     */
    public Op op(Weights w, float eps, DeviceBuffer invFreq, DeviceBuffer meta, DeviceBuffer x, DeviceBuffer q,
                 DeviceBuffer attn, DeviceBuffer act, DeviceBuffer part, DeviceBuffer kc, DeviceBuffer vc, int cap) {
        return new Op(w, eps, invFreq, meta, x, q, attn, act, part, kc, vc, cap);
    }

    /** Fails when a grid barrier of the launches so far gave up; waits for them. */
    public void checkSync() {
        barriers.check();
    }

    /** Queues a copy of the grid barriers' flag into {@code into} (see {@link GridBarriers#readAsync}). */
    public DeviceEvent readSync(ByteBuffer into) {
        return barriers.readAsync(into);
    }

    /** Checks a flag that a completed {@link #readSync} copied. */
    public void checkSync(ByteBuffer flag) {
        barriers.check(flag);
    }

    /** A bound layer; {@link #cache} re-points it at grown caches. */
    public final class Op implements AutoCloseable {
        private final DeviceKernel kernel;
        private final DeviceBuffer trace;

        private Op(Weights w, float eps, DeviceBuffer invFreq, DeviceBuffer meta, DeviceBuffer x, DeviceBuffer q,
                   DeviceBuffer attn, DeviceBuffer act, DeviceBuffer part, DeviceBuffer kc, DeviceBuffer vc, int cap) {
            int d = dims.hidden();
            int qw = dims.heads() * dims.headDim();
            int i = dims.intermediate();
            matrix(w.qkv(), dims.qkvRows(), d, "qkv");
            matrix(w.o(), d, qw, "o_proj");
            matrix(w.gateUp(), 2 * i, d, "gate|up");
            matrix(w.down(), d, i, "down_proj");
            need(w.inputNorm(), 4L * d, "input norm");
            need(w.postNorm(), 4L * d, "post-attention norm");
            need(invFreq, 2L * dims.headDim(), "inv_freq");
            need(meta, 16, "meta");
            need(x, 4L * d, "x");
            need(q, 4L * qw, "q");
            need(attn, 4L * qw, "attn");
            need(act, 4L * i, "act");
            need(part, partialBytes(), "split results");
            float scale = (float) (1.0 / Math.sqrt(dims.headDim()));
            kernel = program.kernel(kernelName()).args(x, meta, q, attn, act, part, kc, vc, cap, invFreq,
                    w.inputNorm(), w.qkv().buffer(), w.o().buffer(), w.postNorm(), w.gateUp().buffer(), w.down().buffer(),
                    d, i, dims.heads(), dims.kvHeads(), eps, scale, barriers.sync(groups), barriers.error());
            kernel.argLocal(24, localBytes);
            trace = traced ? device.allocate(MemoryCategory.WORKSPACE, 16L * groups * TRACE_MARKS, kernelName() + " trace") : null;
            if (trace != null) {
                kernel.arg(25, trace);
            }
            cache(kc, vc, cap);
        }

        /**
         * The traced build's stamps of the last launch: [groups][{@value #TRACE_MARKS}][ns, cycles] longs, little-endian.
         */
        public DeviceBuffer trace() {
            if (trace == null) {
                throw new MmfreeException(kernelName() + ": this layer was built without its trace");
            }
            return trace;
        }

        /** Points the layer at (re-allocated) caches of {@code cap} positions. */
        public void cache(DeviceBuffer kc, DeviceBuffer vc, int cap) {
            long bytes = (long) cap * dims.kvHeads() * dims.headDim() * storage.bytes();
            need(kc, bytes, "keys");
            need(vc, bytes, "values");
            kernel.arg(6, kc).arg(7, vc).arg(8, cap);
        }

        public Launch launch() {
            return new Launch(kernel, new long[]{(long) groups * wg}, new long[]{wg});
        }

        @Override
        public void close() {
            kernel.close();
            if (trace != null) {
                trace.close();
            }
        }
    }

    private void matrix(DeviceDenseMatrix m, int n, int k, String what) {
        if (m.storage() != storage || m.n() != n || m.k() != k) {
            throw new MmfreeException(kernelName() + ": " + what + " " + m + " is not [" + n + ", " + k + "] stored " + storage.suffix());
        }
    }

    private void need(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) {
            throw new MmfreeException(kernelName() + ": buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + bytes);
        }
    }

    @Override
    public void close() {
        barriers.close();
        program.close();
    }
}
