package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

import java.util.Locale;
import java.util.Optional;

/**
 * BitLinear on OpenCL: the ternary accumulate {@code y (+)= (s * a/127) * (T . q)} over weights in
 * {@link TernaryDeviceLayout}, integer sums, scales applied once.
 *
 * {@value #GEMM}: t >= 1 rows of {@link QuantizedInput} (prefill, batched decode); a work-group takes
 * ROWS weight rows x TOKENS activation rows, so each weight word is read once per TOKENS rows. On
 * NVIDIA, from {@value #MMA_MIN_ROWS} rows up, {@value #MMA} computes the same on the int8 tensor cores
 * ({@link MmaShape}). One token of one sequence takes {@link BitLinearDecodeOpenCl} instead, with the
 * input side fused in.
 *
 * <p>Where the tensor-core GEMM is built, two of its variants also run the element-wise step that
 * follows a GEMM in HGRNBit in their epilogue, so that step needs no launch (and no pass over the
 * GEMM's output) of its own: {@link #gemmSwiGlu} (gate|up, then silu(gate) * up) and
 * {@link #gemmMlgru} (i|f|g of a batched decode step, then the MLGRU step). A warp then takes the same
 * 16 channels of each row block it needs, so one lane holds all of a (channel, token)'s values.
 * Tests: {@code ./mvnw -o -pl kernels -am test -Dtest=BitLinearOpenClTest}; GPU timing:
 * {@link BitLinearOpenClBench}.
 */
public final class BitLinearOpenCl implements AutoCloseable {
    public static final String GEMM = "bitlinear_t2_i8_f32";
    public static final String MMA = "bitlinear_mma_t2_i8_f32";
    public static final String MMA_SWIGLU = "bitlinear_mma_swiglu_t2_f32";
    public static final String MMA_MLGRU = "bitlinear_mma_mlgru_t2_f32";
    /**
     * Env switch of the fused epilogues: {@code 0} runs SwiGLU and the MLGRU step in launches of their
     * own after plain GEMMs (for comparisons); {@code WARPSxNTxKSPLIT} sets their work-group shape
     * (default: the wide shape's warps, n-tiles and input split).
     */
    public static final String FUSED_ENV = "MMFREE_OPENCL_MMA_FUSED";
    /** Fewer rows than this take the dp4a GEMM even where the tensor-core one is built. */
    public static final int MMA_MIN_ROWS = 2;

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram gemm;
    private final MmaShape.Choice mmaShapes;   // null: no tensor-core GEMM
    private final DeviceProgram mmaWide;
    private final DeviceProgram mmaNarrow;
    private final MmaShape fusedShape;          // null: no fused epilogues
    private DeviceProgram mmaSwiGlu;            // built on first use
    private DeviceProgram mmaMlgru;

    /** With the tensor-core GEMM where {@link MmaShape#forTiling} gives one. */
    public BitLinearOpenCl(Device device, Tiling tiling) {
        this(device, tiling, MmaShape.forTiling(tiling));
    }

    /**
     * @param mma the tensor-core GEMM's shape; empty: the dp4a (or portable) GEMM only. Without PTX in
     *            the tiling its mma steps are emulated through local memory: exact but slow, for tests
     */
    public BitLinearOpenCl(Device device, Tiling tiling, Optional<MmaShape.Choice> mma) {
        this.device = device;
        this.tiling = tiling;
        this.gemm = ClPrograms.build(device, tiling, "bitlinear/" + GEMM + ".cl");
        this.mmaShapes = mma.orElse(null);
        this.mmaWide = mmaShapes == null ? null : buildMma(mmaShapes.wide());
        this.mmaNarrow = mmaShapes == null ? null
                : mmaShapes.narrow().equals(mmaShapes.wide()) ? mmaWide : buildMma(mmaShapes.narrow());
        this.fusedShape = mmaShapes == null ? null : fusedShape(mmaShapes.wide(), System.getenv(FUSED_ENV));
    }

    /** The fused epilogues' shape under {@value #FUSED_ENV}'s value (null or blank: the wide shape's). */
    static MmaShape fusedShape(MmaShape wide, String env) {
        if (env == null || env.isBlank()) {
            return wide;
        }
        if (env.trim().equals("0")) {
            return null;
        }
        String[] p = env.trim().toLowerCase(Locale.ROOT).split("x");
        try {
            if (p.length != 3) {
                throw new NumberFormatException();
            }
            return new MmaShape(Integer.parseInt(p[0]), 1, Integer.parseInt(p[1]), Integer.parseInt(p[2]));
        } catch (NumberFormatException e) {
            throw new MmfreeException(FUSED_ENV + ": expected 0 or WARPSxNTxKSPLIT like 1x4x2, got '" + env + "'");
        }
    }

    private DeviceProgram buildMma(MmaShape shape) {
        return ClPrograms.buildText(device, tiling, "bitlinear/" + MMA + ".cl " + shape, shape.defines(),
                ClPrograms.resource("bitlinear/" + MMA + ".cl"));
    }

    private DeviceProgram buildFused(String kernel, int mTiles, int epilogue) {
        return ClPrograms.buildText(device, tiling, "bitlinear/" + MMA + ".cl " + kernel + " " + fusedShape,
                fusedShape.defines(mTiles, epilogue), ClPrograms.resource("bitlinear/" + MMA + ".cl"));
    }

    /** Whether {@link #gemmSwiGlu} and {@link #gemmMlgru} run for this many rows. */
    public boolean fusesEpilogues(int rows) {
        return fusedShape != null && rows >= MMA_MIN_ROWS;
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
        return tiling + (mmaShapes == null ? "" : " mma " + mmaShapes + (fusedShape == null ? "" : " fused " + fusedShape));
    }

    /**
     * y[t][p * out + r] (+)= (s_p * factor[p][t]) * (T_p[r] . q[p][t]) for t < rows.
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

    /**
     * gate|up then SwiGLU: {@code v[t][r] = silu(gate) * up} with gate = row r and up = row I + r of
     * the GEMM {@link #gemm} would compute (one projection, out = 2I), for t < rows.
     *
     * @param v [rows][I] f32
     */
    public Launch gemmSwiGlu(DeviceTernaryMatrix gateUp, QuantizedInput in, int rows, DeviceBuffer v) {
        checkFused(MMA_SWIGLU, gateUp, in, rows);
        if (gateUp.projections() != 1 || gateUp.out() % 2 != 0) {
            throw new MmfreeException(MMA_SWIGLU + ": gate|up must be one projection of even out, got "
                    + gateUp.projections() + " x [" + gateUp.out() + ", " + gateUp.in() + "]");
        }
        int channels = gateUp.out() / 2;
        checkBytes(v, 4L * rows * channels, "v");
        if (mmaSwiGlu == null) {
            mmaSwiGlu = buildFused(MMA_SWIGLU, 2, 2);
        }
        var k = mmaSwiGlu.kernel(MMA_SWIGLU).args(in.q(), in.factor(), in.qsum(), gateUp.codes(), gateUp.scales(), rows,
                gateUp.out(), gateUp.outPad(), gateUp.chunks(), v, 0);
        return fusedLaunch(k, 2, channels, rows);
    }

    /**
     * The stacked i|f|g of a batched decode step (one token a sequence, rows = b), then the MLGRU step
     * as {@code mlgru_scan_f32} takes it for t = 1: {@code f = lb + (1 - lb) * sigmoid(fPre)},
     * {@code s = f * stateIn + silu(i) * (1 - f)}; writes stateOut = s, gate = silu(s) and the g third
     * of ifg (its i and f thirds are left as they were).
     *
     * @param ifg  [b][3d] f32, g written at column 2d + r
     * @param lb   [d] the layer's lower bound
     * @param stateIn  [b][d], stateOut [b][d] (distinct), gate [b][d]
     */
    public Launch gemmMlgru(DeviceTernaryMatrix w, QuantizedInput in, int rows, DeviceBuffer lb,
                            DeviceBuffer stateIn, DeviceBuffer stateOut, DeviceBuffer gate, DeviceBuffer ifg) {
        checkFused(MMA_MLGRU, w, in, rows);
        if (w.projections() != 3) {
            throw new MmfreeException(MMA_MLGRU + ": needs the stacked i|f|g (3 projections), got " + w.projections());
        }
        int d = w.out();
        checkBytes(ifg, 12L * rows * d, "ifg");
        checkBytes(lb, 4L * d, "lb");
        checkBytes(stateIn, 4L * rows * d, "stateIn");
        checkBytes(stateOut, 4L * rows * d, "stateOut");
        checkBytes(gate, 4L * rows * d, "gate");
        if (stateIn == stateOut) {
            throw new MmfreeException(MMA_MLGRU + ": stateIn and stateOut must be distinct buffers");
        }
        if (mmaMlgru == null) {
            mmaMlgru = buildFused(MMA_MLGRU, 3, 1);
        }
        var k = mmaMlgru.kernel(MMA_MLGRU).args(in.q(), in.factor(), in.qsum(), w.codes(), w.scales(), rows,
                d, w.outPad(), w.chunks(), ifg, 0, lb, stateIn, stateOut, gate);
        return fusedLaunch(k, 3, d, rows);
    }

    private void checkFused(String kernel, DeviceTernaryMatrix w, QuantizedInput in, int rows) {
        if (!fusesEpilogues(rows)) {
            throw new MmfreeException(kernel + ": needs the tensor-core GEMM (" + FUSED_ENV + " not 0) and at least "
                    + MMA_MIN_ROWS + " rows, got " + rows + " on " + this);
        }
        if (in.k() != w.in() || in.projections() != w.projections()) {
            throw new MmfreeException(kernel + ": input has " + in.projections() + " x k " + in.k() + ", weights "
                    + w.projections() + " x in " + w.in());
        }
        if (rows > in.capacity()) {
            throw new MmfreeException(kernel + ": rows " + rows + " outside 1.." + in.capacity());
        }
    }

    private Launch fusedLaunch(DeviceKernel k, int mTiles, int channels, int rows) {
        ClPrograms.checkLocal(device, k.name() + " " + fusedShape, fusedShape.localBytes(mTiles));
        long groups = (channels + 16L * fusedShape.warps() - 1) / (16L * fusedShape.warps());
        return new Launch(k, new long[]{groups * fusedShape.workGroup(), (rows + fusedShape.tokens() - 1) / fusedShape.tokens()},
                new long[]{fusedShape.workGroup(), 1});
    }

    static void checkBytes(DeviceBuffer b, long need, String what) {
        if (b.bytes() < need) {
            throw new MmfreeException("bitlinear: buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + need);
        }
    }

    @Override
    public void close() {
        gemm.close();
        if (mmaWide != null) {
            mmaWide.close();
        }
        if (mmaNarrow != null && mmaNarrow != mmaWide) {
            mmaNarrow.close();
        }
        if (mmaSwiGlu != null) {
            mmaSwiGlu.close();
        }
        if (mmaMlgru != null) {
            mmaMlgru.close();
        }
    }
}
