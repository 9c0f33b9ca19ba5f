package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * BitLinear on OpenCL: the ternary accumulate {@code y (+)= (s * a/127) * (T . q)} over weights in
 * {@link TernaryDeviceLayout}, integer sums, scales applied once.
 *
 * {@value #GEMM}: t >= 1 rows of {@link QuantizedInput} (prefill, batched decode); a work-group takes
 * ROWS weight rows x TOKENS activation rows, so each weight word is read once per TOKENS rows. On
 * NVIDIA, from {@value #MMA_MIN_ROWS} rows up, {@value #MMA} computes the same on the int8 tensor cores
 * ({@link MmaShape}). One row takes {@value #GEMV}: a work-group a row block, whose first weight
 * chunks are loaded before the codes are copied to local memory (with fewer work-groups, each takes
 * blocks in turn with the next one's first chunks in flight; narrow outputs take narrower blocks, see
 * {@link GemvSchedule}). The model's batch-1 decode takes
 * {@link BitLinearDecodeOpenCl} instead, with the input side fused in. An instance reads one layout of
 * {@link TernaryDeviceLayout} (chunk-major, or blocked by {@link #blockRows} rows), built into its programs.
 * Tests: {@code ./mvnw -o -pl kernels -am test -Dtest=BitLinearOpenClTest}; GPU timing:
 * {@link BitLinearOpenClBench}.
 */
public final class BitLinearOpenCl implements AutoCloseable {
    public static final String GEMM = "bitlinear_t2_i8_f32";
    public static final String MMA = "bitlinear_mma_t2_i8_f32";
    public static final String GEMV = "bitlinear_gemv_t2_i8_f32";
    /** Fewer rows than this take the dp4a GEMM even where the tensor-core one is built. */
    public static final int MMA_MIN_ROWS = 2;
    /** Weight chunks a GEMV work-item loads ahead, at most. */
    private static final int MAX_PREFETCH = 16;
    /** int4s of the input codes a GEMV work-item loads ahead of the weights, at most (32 KB at 256 work-items). */
    private static final int MAX_STAGED = 8;

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram gemm;
    private final MmaShape.Choice mmaShapes;   // null: no tensor-core GEMM
    private final DeviceProgram mmaWide;
    private final DeviceProgram mmaNarrow;
    private final GemvSchedule gemvSchedule;
    private final int blockRows;
    private final Map<String, DeviceProgram> gemv = new HashMap<>();   // by tiling and chunks loaded ahead

    /**
     * How the one-row GEMV spreads over the device.
     *
     * @param groups   at most this many work-groups, each taking row blocks in turn; 0 for one a row block. On
     *                 GPUs 8 a compute unit: lm_head's 2,000 blocks of 16 rows then run in one wave, and read 3-13
     *                 points of the copy better in 21 of 23 rounds (bench/results/nvidia-h200/2026-11-29/gemv-trace);
     *                 one a compute unit left too few bytes in flight
     * @param minBlocks while a GEMV would have fewer row blocks than this, its work-groups take half the rows
     *                 and twice the input slices (down to 16 rows), so that a narrow output still reads on
     *                 every compute unit (the 2.7B's d = 2560 rows are 80 blocks of 32 for 132 units); 0: never
     * @param wideRows where the GEMM's row blocks are already at least minBlocks, the GEMV's work-groups take
     *                 this many rows (not fewer than 16; 0: the GEMM's) with the GEMM's slices: smaller work-groups
     *                 that the device schedules more finely (on the H200, 16 x 8 read lm_head 5-9 points of the
     *                 copy better than 32 x 8, bench/results/nvidia-h200/2026-11-29/masked-dot)
     * @param narrowRows 8 or 16: where minBlocks narrowed the work-groups to 16 rows, they go on halving their rows
     *                 (doubling their slices) down to this many; 0 as 16. On the H200, 8 x 32 read down_proj (2560 rows
     *                 of 6912) 2.2 points of the copy better than 16 x 16 on average, ahead in 23 of 28 rounds, and
     *                 o_proj within a point either way (bench/results/nvidia-h200/2026-11-29/narrow-rows)
     */
    public record GemvSchedule(int groups, int minBlocks, int wideRows, int narrowRows) {
        /** Work-groups a compute unit on GPUs ({@link #forDevice}). */
        public static final int GPU_GROUPS_PER_UNIT = 8;

        public GemvSchedule {
            if (groups < 0 || minBlocks < 0 || wideRows < 0 || wideRows > 0 && (wideRows < 16 || Integer.bitCount(wideRows) != 1)
                    || narrowRows != 0 && narrowRows != 8 && narrowRows != 16) {
                throw new MmfreeException(GEMV + ": schedule groups and minBlocks must be >= 0, wideRows 0 or a power of two"
                        + " >= 16, and narrowRows 0, 8 or 16, got " + groups + ", " + minBlocks + ", " + wideRows + ", " + narrowRows);
            }
        }

        /** Rows and slices as the GEMM's, narrowed for narrow outputs down to 16 rows. */
        public GemvSchedule(int groups, int minBlocks) {
            this(groups, minBlocks, 0, 0);
        }

        /**
         * One work-group a row block on a CPU. On a GPU at most 8 a compute unit, at least as many blocks as compute
         * units where rows allow, else 8 rows, and wide outputs on 16-row work-groups.
         */
        public static GemvSchedule forDevice(DeviceInfo info) {
            return info.gpu() ? new GemvSchedule(GPU_GROUPS_PER_UNIT * info.computeUnits(), info.computeUnits(), 16, 8)
                    : new GemvSchedule(0, 0, 0, 0);
        }
    }

    /** With the tensor-core GEMM where {@link MmaShape#forTiling} gives one. */
    public BitLinearOpenCl(Device device, Tiling tiling) {
        this(device, tiling, MmaShape.forTiling(tiling));
    }

    /**
     * @param mma the tensor-core GEMM's shape; empty: the dp4a (or portable) GEMM only. Without PTX in
     *            the tiling its mma steps are emulated through local memory: exact but slow, for tests
     */
    public BitLinearOpenCl(Device device, Tiling tiling, Optional<MmaShape.Choice> mma) {
        this(device, tiling, mma, GemvSchedule.forDevice(device.info()));
    }

    public BitLinearOpenCl(Device device, Tiling tiling, Optional<MmaShape.Choice> mma, GemvSchedule gemvSchedule) {
        this(device, tiling, mma, gemvSchedule, 0);
    }

    /** @param blockRows the layout of the weights it reads: 0 chunk-major, else blocked by 16, 32 or 64 rows */
    public BitLinearOpenCl(Device device, Tiling tiling, Optional<MmaShape.Choice> mma, GemvSchedule gemvSchedule, int blockRows) {
        this.gemvSchedule = gemvSchedule;
        this.device = device;
        this.tiling = tiling;
        this.blockRows = TernaryDeviceLayout.checkBlockRows(blockRows);
        this.gemm = ClPrograms.buildText(device, tiling, GEMM + " WBLOCK " + blockRows, layoutDefine(),
                ClPrograms.resource("bitlinear/" + GEMM + ".cl"));
        this.mmaShapes = mma.orElse(null);
        this.mmaWide = mmaShapes == null ? null : buildMma(mmaShapes.wide());
        this.mmaNarrow = mmaShapes == null ? null
                : mmaShapes.narrow().equals(mmaShapes.wide()) ? mmaWide : buildMma(mmaShapes.narrow());
    }

    private DeviceProgram buildMma(MmaShape shape) {
        return ClPrograms.buildText(device, tiling, "bitlinear/" + MMA + ".cl " + shape + " WBLOCK " + blockRows, shape.defines(),
                layoutDefine(), ClPrograms.resource("bitlinear/" + MMA + ".cl"));
    }

    private String layoutDefine() {
        return "#define WBLOCK " + blockRows + "\n";
    }

    /** The weights' layout it reads: 0 chunk-major, else blocked by this many rows. */
    public int blockRows() {
        return blockRows;
    }

    public Tiling tiling() {
        return tiling;
    }

    /** The tensor-core GEMM's shapes, if it is built. */
    public Optional<MmaShape.Choice> mmaShapes() {
        return Optional.ofNullable(mmaShapes);
    }

    @Override
    public String toString() {
        return tiling + (mmaShapes == null ? "" : " mma " + mmaShapes) + (blockRows == 0 ? "" : " blocked " + blockRows);
    }

    /**
     * y[t][p * out + r] (+)= (s_p * factor[p][t]) * (T_p[r] . q[p][t]) for t < rows. One row takes
     * {@value #GEMV}, two and more the tensor-core GEMM where it is built, else {@value #GEMM}.
     *
     * @param y [rows][P * out] f32
     */
    public Launch gemm(DeviceTernaryMatrix w, QuantizedInput in, int rows, DeviceBuffer y, boolean accumulate) {
        if (in.k() != w.in() || in.projections() != w.projections()) {
            throw new MmfreeException(GEMM + ": input has " + in.projections() + " x k " + in.k() + ", weights "
                    + w.projections() + " x in " + w.in());
        }
        if (rows < 1 || rows > in.capacity()) {
            throw new MmfreeException(GEMM + ": rows " + rows + " outside 1.." + in.capacity());
        }
        checkBytes(y, 4L * rows * w.projections() * w.out(), "y");
        if (w.blockRows() != blockRows) {
            throw new MmfreeException(GEMM + ": built for weights blocked by " + blockRows + " rows, got blocks of "
                    + w.blockRows() + " (0: chunk-major)");
        }
        if (rows == 1) {
            return gemv(w, in, y, accumulate);
        }
        if (mmaShapes != null && rows >= MMA_MIN_ROWS) {
            MmaShape mmaShape = mmaShapes.pick(w.rowsPad());
            ClPrograms.checkLocal(device, MMA + " " + mmaShape, mmaShape.localBytes());
            var k = (mmaShape == mmaShapes.wide() ? mmaWide : mmaNarrow).kernel(MMA).args(in.q(), in.factor(), in.qsum(), w.codes(), w.scales(), rows, w.out(), w.outPad(),
                    w.chunks(), y, accumulate ? 1 : 0);
            long groups = w.rowsPad() / mmaShape.rows();
            return new Launch(k, new long[]{groups * mmaShape.workGroup(), (rows + mmaShape.tokens() - 1) / mmaShape.tokens()},
                    new long[]{mmaShape.workGroup(), 1});
        }
        int wg = tiling.workGroup();
        ClPrograms.checkLocal(device, GEMM, 4L * tiling.tokens() * wg);
        var k = gemm.kernel(GEMM).args(in.q(), in.factor(), in.qsum(), w.codes(), w.scales(), rows, w.out(), w.outPad(),
                w.chunks(), y, accumulate ? 1 : 0);
        k.argLocal(11, 4L * tiling.tokens() * wg);
        long groups = w.rowsPad() / tiling.rows();
        return new Launch(k, new long[]{groups * wg, (rows + tiling.tokens() - 1) / tiling.tokens()}, new long[]{wg, 1});
    }

    private Launch gemv(DeviceTernaryMatrix w, QuantizedInput in, DeviceBuffer y, boolean accumulate) {
        return gemv(w, in, y, accumulate, null);
    }

    /**
     * The one-row GEMV of {@link #gemm} built with {@code GEMV_TRACE} ({@link GemvTrace}): the same results, and
     * each work-group's clock marks in {@code trace}, which needs {@link #gemvGroups} x {@link GemvTrace#SLOTS} longs.
     */
    public Launch gemvTraced(DeviceTernaryMatrix w, QuantizedInput in, DeviceBuffer y, DeviceBuffer trace) {
        checkBytes(trace, 8L * GemvTrace.SLOTS * gemvGroups(w), "trace");
        return gemv(w, in, y, false, trace);
    }

    /** Work-groups of the one-row GEMV of these weights. */
    public long gemvGroups(DeviceTernaryMatrix w) {
        long blocks = w.rowsPad() / gemvTiling(w.rowsPad()).rows();
        return gemvSchedule.groups() > 0 ? Math.min(blocks, gemvSchedule.groups()) : blocks;
    }

    private Launch gemv(DeviceTernaryMatrix w, QuantizedInput in, DeviceBuffer y, boolean accumulate, DeviceBuffer trace) {
        Tiling t = gemvTiling(w.rowsPad());
        int wg = t.workGroup();
        int chunks = w.chunks();
        int projections = w.projections();
        long qBytes = 64L * chunks * projections;
        ClPrograms.checkLocal(device, GEMV, qBytes + 4L * wg + 8L * projections);
        if (projections > wg) {
            throw new MmfreeException(GEMV + ": " + projections + " projections, more than the " + wg + " work-items of a group");
        }
        int prefetch = Math.min(MAX_PREFETCH, (chunks + t.slices() - 1) / t.slices());
        long int4s = (qBytes / 16 + wg - 1) / wg;   // int4s of codes a work-item stages
        int staged = (int) Math.min(MAX_STAGED, int4s);   // loaded ahead of the weights
        int late = int4s > MAX_STAGED ? 1 : 0;
        String traceDefine = trace == null ? "" : "#define GEMV_TRACE 1\n" + ClPrograms.resource("opencl/trace.cl");
        DeviceProgram program = gemv.computeIfAbsent(t + " PF " + prefetch + " QR " + staged + (late == 1 ? "+" : "") + (trace == null ? "" : " traced"),
                key -> ClPrograms.buildText(device, t, GEMV + " " + key + " WBLOCK " + blockRows,
                        "#define PF " + prefetch + "\n#define QR " + staged + "\n#define QR_LATE " + late + "\n", layoutDefine(), traceDefine,
                        ClPrograms.resource("bitlinear/" + GEMV + ".cl")));
        var k = program.kernel(GEMV).args(in.q(), in.factor(), in.qsum(), w.codes(), w.scales(), w.out(), w.outPad(),
                w.rowsPad(), chunks, y, accumulate ? 1 : 0);
        k.argLocal(11, qBytes).argLocal(12, 4L * wg).argLocal(13, 4L * projections).argLocal(14, 4L * projections);
        if (trace != null) {
            k.arg(15, trace);
        }
        return new Launch(k, new long[]{gemvGroups(w) * wg}, new long[]{wg});
    }

    /**
     * The GEMV's work-group shape: the GEMM's, narrowed as {@link GemvSchedule#minBlocks} and {@link GemvSchedule#narrowRows}
     * ask, else with {@link GemvSchedule#wideRows}.
     */
    Tiling gemvTiling(int rowsPad) {
        Tiling t = tiling;
        if (rowsPad / t.rows() < gemvSchedule.minBlocks()) {
            while (t.rows() > 16 && rowsPad / t.rows() < gemvSchedule.minBlocks()) {
                t = new Tiling(t.rows() / 2, t.slices() * 2, t.tokens(), t.ptx());
            }
            if (t.rows() == 16 && gemvSchedule.narrowRows() == 8) {
                t = new Tiling(8, t.slices() * 2, t.tokens(), t.ptx());
            }
            return t;
        }
        while (t.rows() > gemvSchedule.wideRows() && gemvSchedule.wideRows() > 0 && t.workGroup() >= 64) {
            t = new Tiling(t.rows() / 2, t.slices(), t.tokens(), t.ptx());
        }
        return t;
    }

    static void checkBytes(DeviceBuffer b, long need, String what) {
        if (b.bytes() < need) {
            throw new MmfreeException("bitlinear: buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + need);
        }
    }

    @Override
    public void close() {
        gemm.close();
        gemv.values().forEach(DeviceProgram::close);
        gemv.clear();
        if (mmaWide != null) {
            mmaWide.close();
        }
        if (mmaNarrow != null && mmaNarrow != mmaWide) {
            mmaNarrow.close();
        }
    }
}
