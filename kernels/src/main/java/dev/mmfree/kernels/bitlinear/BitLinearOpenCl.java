package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * BitLinear on OpenCL: the ternary accumulate {@code y (+)= (s * a/127) * (T . q)} over weights in
 * {@link TernaryDeviceLayout}, integer sums, scales applied once.
 *
 * <ul>
 *   <li>{@value #GEMM}: t >= 1 rows of {@link QuantizedInput} (prefill, batched decode); a work-group
 *       takes ROWS weight rows x TOKENS activation rows, so each weight word is read once per TOKENS rows.</li>
 *   <li>{@value #NORM2}: one token, with RMSNorm (block norm), each projection's RMSNorm and the int8
 *       quantizer fused in front: each work-group normalizes the input row in local memory, so a
 *       decode step needs no separate norm launch (launches, not bytes, bound batch-1 decoding).</li>
 * </ul>
 * Tests: {@code ./mvnw -o -pl kernels -am test -Dtest=BitLinearOpenClTest}; GPU timing:
 * {@link BitLinearOpenClBench}.
 */
public final class BitLinearOpenCl implements AutoCloseable {
    public static final String GEMM = "bitlinear_t2_i8_f32";
    public static final String NORM2 = "bitlinear_norm2_t2_f32";

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram gemm;
    private final DeviceProgram norm2;

    public BitLinearOpenCl(Device device, Tiling tiling) {
        this.device = device;
        this.tiling = tiling;
        this.gemm = ClPrograms.build(device, tiling, "bitlinear/" + GEMM + ".cl");
        this.norm2 = ClPrograms.build(device, tiling, "bitlinear/" + NORM2 + ".cl");
    }

    public Tiling tiling() {
        return tiling;
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
        int wg = tiling.workGroup();
        ClPrograms.checkLocal(device, GEMM, 4L * tiling.tokens() * wg);
        var k = gemm.kernel(GEMM).args(in.q(), in.factor(), in.qsum(), w.codes(), w.scales(), rows, w.out(), w.outPad(),
                w.chunks(), y, accumulate ? 1 : 0);
        k.argLocal(11, 4L * tiling.tokens() * wg);
        long groups = w.rowsPad() / tiling.rows();
        return new Launch(k, new long[]{groups * wg, (rows + tiling.tokens() - 1) / tiling.tokens()}, new long[]{wg, 1});
    }

    /**
     * One token through P projections sharing an input: y[p * out + r] (+)= BitLinear_p(RMSNorm_norm1(x)).
     *
     * @param x     [K] f32
     * @param norm1 [K] the block norm, or null for none
     * @param norm2 [P][K] each projection's own norm
     * @param y     [P * out] f32
     */
    public Launch norm2(DeviceTernaryMatrix w, DeviceBuffer x, DeviceBuffer norm1, float eps1, DeviceBuffer norm2Weights,
                        float eps2, DeviceBuffer y, boolean accumulate) {
        int kIn = w.in();
        checkBytes(x, 4L * kIn, "x");
        checkBytes(norm2Weights, 4L * w.projections() * kIn, "norm2");
        if (norm1 != null) {
            checkBytes(norm1, 4L * kIn, "norm1");
        }
        checkBytes(y, 4L * w.projections() * w.out(), "y");
        int wg = tiling.workGroup();
        long kPad = 64L * w.chunks();
        long local = 4 * kPad + kPad + 8L * wg;
        ClPrograms.checkLocal(device, NORM2, local);
        var k = norm2.kernel(NORM2).args(x, norm1 == null ? x : norm1, norm1 == null ? 0 : 1, eps1, norm2Weights, eps2,
                w.codes(), w.scales(), kIn, w.out(), w.outPad(), w.chunks(), y, accumulate ? 1 : 0);
        k.argLocal(14, 4 * kPad).argLocal(15, kPad).argLocal(16, 8L * wg);
        long groups = w.rowsPad() / tiling.rows();
        return new Launch(k, new long[]{groups * wg}, new long[]{wg});
    }

    static void checkBytes(DeviceBuffer b, long need, String what) {
        if (b.bytes() < need) {
            throw new MmfreeException("bitlinear: buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + need);
        }
    }

    @Override
    public void close() {
        gemm.close();
        norm2.close();
    }
}
