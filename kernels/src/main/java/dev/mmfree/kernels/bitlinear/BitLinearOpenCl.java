package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

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
 * Tests: {@code ./mvnw -o -pl kernels -am test -Dtest=BitLinearOpenClTest}; GPU timing:
 * {@link BitLinearOpenClBench}.
 */
public final class BitLinearOpenCl implements AutoCloseable {
    public static final String GEMM = "bitlinear_t2_i8_f32";
    public static final String MMA = "bitlinear_mma_t2_i8_f32";
    /** Fewer rows than this take the dp4a GEMM even where the tensor-core one is built. */
    public static final int MMA_MIN_ROWS = 2;

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram gemm;
    private final MmaShape.Choice mmaShapes;   // null: no tensor-core GEMM
    private final DeviceProgram mmaWide;
    private final DeviceProgram mmaNarrow;

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
    }

    private DeviceProgram buildMma(MmaShape shape) {
        return ClPrograms.buildText(device, tiling, "bitlinear/" + MMA + ".cl " + shape, shape.defines(),
                ClPrograms.resource("bitlinear/" + MMA + ".cl"));
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
        return tiling + (mmaShapes == null ? "" : " mma " + mmaShapes);
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
    }
}
