package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.GridBarriers;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * One HGRNBit layer of a batched decode step (one token of each of several sequences) in one launch
 * ({@value #KERNEL}): the GEMM path's eight launches (norm-quantize, the i|f|g GEMM, the MLGRU step with
 * o_proj's norm-quantize, o_proj, norm-quantize, gate|up, SwiGLU + quantize, down_proj) as phases of one kernel,
 * with grid-wide barriers between them. Each phase calls the function its standalone kernel calls
 * ({@link dev.mmfree.kernels.rmsnormquant.RmsNormQuantOpenCl}, {@link dev.mmfree.kernels.swiglu.SwiGluOpenCl},
 * the tensor-core GEMM of {@link BitLinearOpenCl}), so with the same work-group size the results are the same bits.
 * On NVIDIA's OpenCL a launch costs the device about 6 us however little it does, and at batch 64 most of a
 * 2.7B layer's eight launches was that floor. Measured on the H200 it is nonetheless slower (2.7B at batch 64:
 * 8,563-11,285 tokens/s against 20,927 with eight launches; its GEMM phases run on one work-group a compute unit
 * where the standalone GEMMs fill the device), so it is off by default ({@value #ENV}).
 *
 * <p>The grid barriers need every work-group running at once, which OpenCL does not promise: launch at most as many
 * work-groups as run together on a device running nothing else (one a compute unit is always safe), and call
 * {@link #barriers()}' check after the step; a barrier that waited too long gives up and flags it.
 */
public final class DecodeBatchLayerOpenCl implements AutoCloseable {
    public static final String KERNEL = "decode_batch_layer_t2_f32";
    /**
     * Env switch: {@code 1} runs a batched decode step's layers one launch each, on one work-group a compute unit
     * of a GPU with NVIDIA's tensor-core GEMM; {@code 0} or unset (the default) keeps the eight launches a layer,
     * which measured faster on the H200 (bench/results/nvidia-h200/2026-11-30/batch-layer/).
     */
    public static final String ENV = "MMFREE_OPENCL_BATCH_LAYER";
    /** Env override of the layer's mma shape ({@code WARPSxMTxNT[xKSPLIT]}, {@link MmaShape#parse}). */
    public static final String SHAPE_ENV = "MMFREE_OPENCL_BATCH_LAYER_MMA";
    /**
     * The default shape: 8 warps (64 rows by 16 tokens, the input split in 4), 256 work-items a group. At batch 64 on
     * the H200 it decoded 370M at 37,377-37,447 tokens/s against 32,049-32,136 for 64 rows by 32 tokens (twice as many
     * GEMM tiles to spread over the groups), and 2.7B at 11,115 against 11,239
     * (bench/results/nvidia-h200/2026-11-30/batch-layer/, c14 and c15).
     */
    public static final MmaShape DEFAULT_SHAPE = new MmaShape(2, 2, 2, 4);

    private final Device device;
    private final MmaShape shape;
    private final int blockRows;
    private final boolean ptx;
    private final DeviceProgram program;
    private final GridBarriers barriers;

    /**
     * @param ptx       NVIDIA's inline PTX (mma.sync); without it the GEMM phases compute each tile's integer sums plainly,
     *                  the same bits (for tests on PoCL, whose work-group compiler cannot take the emulated mma's barriers)
     * @param blockRows the layout of the weights it reads (see {@link TernaryDeviceLayout})
     */
    public DecodeBatchLayerOpenCl(Device device, MmaShape shape, boolean ptx, int blockRows) {
        int wg = shape.workGroup();
        if (Integer.bitCount(wg) != 1) {
            throw new MmfreeException(KERNEL + ": the mma shape's work-group (" + shape + ": " + wg
                    + " work-items) must be a power of two");
        }
        this.device = device;
        this.shape = shape;
        this.blockRows = TernaryDeviceLayout.checkBlockRows(blockRows);
        this.ptx = ptx;
        Tiling tiling = new Tiling(32, wg / 32, 8, ptx);
        this.program = ClPrograms.buildText(device, tiling, KERNEL + " " + shape + " WBLOCK " + blockRows,
                "#define NQ_VOL volatile\n#define MMA_VOL volatile\n#define WBLOCK " + blockRows + "\n"
                        // without PTX (PoCL in the tests) the rows take their loops: the held rows' path made PoCL's
                        // work-group compiler take 222 s on this kernel instead of 21 (the standalone row kernels test it)
                        + (ptx ? "" : "#define NQ_HELD_PATH 0\n") + shape.defines(),
                GridBarriers.source(device.info()), ClPrograms.resource("rmsnormquant/rms_norm_quant_f32_i8.cl"),
                ClPrograms.resource("swiglu/swiglu_norm_quant_f32_i8.cl"),
                ClPrograms.resource("bitlinear/" + BitLinearOpenCl.MMA + ".cl"),
                ClPrograms.resource("bitlinear/" + KERNEL + ".cl"));
        this.barriers = new GridBarriers(device, KERNEL, "eight launches a layer need no barrier: set " + ENV + "=0");
    }

    /**
     * Work-groups for a device by {@value #ENV}: its compute units with {@code 1} where it has NVIDIA's tensor-core
     * GEMM ({@code mma}), else 0 (eight launches a layer). More than one work-group a compute unit is not offered:
     * on the H200 two a compute unit were not all resident at once, and the launch waited on its grid barriers.
     */
    public static int defaultGroups(DeviceInfo info, boolean mma) {
        return groups(System.getenv(ENV), info, mma);
    }

    /** {@link #defaultGroups} for a value of {@value #ENV} (null: unset). */
    static int groups(String env, DeviceInfo info, boolean mma) {
        if (env == null || env.isBlank() || env.trim().equals("0")) {
            return 0;
        }
        if (!env.trim().equals("1")) {
            throw new MmfreeException("env " + ENV + " must be 0 (eight launches a layer, the default) or 1 (one launch a layer),"
                    + " got '" + env + "'");
        }
        if (!mma) {
            throw new MmfreeException("env " + ENV + "=1: one launch a layer needs NVIDIA's tensor-core GEMM, which device "
                    + info.name() + " does not have");
        }
        return info.computeUnits();
    }

    /** The layer's mma shape: {@value #SHAPE_ENV}, else {@link #DEFAULT_SHAPE}. */
    public static MmaShape defaultShape() {
        String env = System.getenv(SHAPE_ENV);
        return env == null || env.isBlank() ? DEFAULT_SHAPE : MmaShape.parse(env);
    }

    public MmaShape shape() {
        return shape;
    }

    /** The state of this kernel's grid barriers: check its flag after the launches. */
    public GridBarriers barriers() {
        return barriers;
    }

    /**
     * One layer for {@code rows} sequences, one token each, on {@code groups} work-groups.
     *
     * @param x        [rows][d] the residual stream, in and out
     * @param stateIn  [rows][d] the MLGRU states in; stateOut [rows][d] out (a distinct buffer)
     * @param qIfg     i|f|g's quantized inputs (3 projections of d), qD one projection of d (o_proj's, then
     *                 gate|up's), qI one of I (down_proj's); each for at least rows rows
     * @param ifg      [rows][3d] and gu [rows][2I]: scratch
     */
    public Launch layer(int groups, BitLinearDecodeOpenCl.LayerWeights lw, float eps, float eps2, int rows, DeviceBuffer x,
                        DeviceBuffer stateIn, DeviceBuffer stateOut, QuantizedInput qIfg, QuantizedInput qD, QuantizedInput qI,
                        DeviceBuffer ifg, DeviceBuffer gu) {
        int d = lw.d();
        int i = lw.intermediate();
        if (lw.ifg().blockRows() != blockRows) {
            throw new MmfreeException(KERNEL + ": built for weights blocked by " + blockRows + " rows, got blocks of "
                    + lw.ifg().blockRows() + " (0: chunk-major)");
        }
        if (groups < 1) {
            throw new MmfreeException(KERNEL + ": groups must be >= 1, got " + groups);
        }
        if (rows < 1) {
            throw new MmfreeException(KERNEL + ": rows must be >= 1, got " + rows);
        }
        if (stateIn == stateOut) {
            throw new MmfreeException(KERNEL + ": stateIn and stateOut must be distinct buffers");
        }
        checkInput(qIfg, 3, d, rows, "qIfg");
        checkInput(qD, 1, d, rows, "qD");
        checkInput(qI, 1, i, rows, "qI");
        need(x, 4L * rows * d, "x");
        need(stateIn, 4L * rows * d, "stateIn");
        need(stateOut, 4L * rows * d, "stateOut");
        need(ifg, 12L * rows * d, "ifg");
        need(gu, 8L * rows * i, "gu");
        int wg = shape.workGroup();
        long rowLocal = Math.max(4L * QuantizedInput.kPad(d), 4L * QuantizedInput.kPad(i)) + 8L * wg;   // acc_t: at most a double
        long mmaLocal = ptx ? shape.localBytes() : 0;   // the input split's sums (without PTX: plain integer tiles)
        long local = Math.max(rowLocal, mmaLocal);
        ClPrograms.checkLocal(device, KERNEL, local);
        var k = program.kernel(KERNEL).args(x, rows, d, i, eps, eps2,
                lw.attnNorm(), lw.ifgNorms(), lw.lowerBound(), stateIn, stateOut, lw.gNorm(), lw.oNorm(),
                lw.mlpNorm(), lw.gateNorm(), lw.downNorm(),
                lw.ifg().codes(), lw.ifg().scales(), lw.ifg().outPad(), lw.o().codes(), lw.o().scales(), lw.o().outPad(),
                lw.gateUp().codes(), lw.gateUp().scales(), lw.gateUp().outPad(),
                lw.down().codes(), lw.down().scales(), lw.down().outPad(),
                qIfg.q(), qIfg.factor(), qIfg.qsum(), qD.q(), qD.factor(), qD.qsum(), qI.q(), qI.factor(), qI.qsum(),
                ifg, gu, barriers.sync(groups), barriers.error());
        k.argLocal(41, local);
        return new Launch(k, new long[]{(long) groups * wg}, new long[]{wg});
    }

    private static void checkInput(QuantizedInput in, int projections, int k, int rows, String what) {
        if (in.projections() != projections || in.k() != k || in.capacity() < rows) {
            throw new MmfreeException(KERNEL + ": " + what + " holds " + in.projections() + " x " + in.capacity() + " rows of "
                    + in.k() + ", needs " + projections + " x " + rows + " of " + k);
        }
    }

    private static void need(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) {
            throw new MmfreeException(KERNEL + ": buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + bytes);
        }
    }

    @Override
    public void close() {
        barriers.close();
        program.close();
    }
}
