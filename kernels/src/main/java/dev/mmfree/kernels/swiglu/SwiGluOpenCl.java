package dev.mmfree.kernels.swiglu;

import dev.mmfree.kernels.bitlinear.DeviceTernaryMatrix;
import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * SwiGLU with down_proj's RMSNorm and int8 quantizer on OpenCL ({@link SwiGluReference} is the math;
 * a row of gate_proj's output [2I] is gate then up):
 * {@value #NORM_QUANT}, rows of t into a {@link QuantizedInput} for the GEMM path. A batch-1 decode
 * step applies SwiGLU in the epilogue of gate_proj's GEMV instead ({@code BitLinearDecodeOpenCl#swiGluGateUp}).
 * Tests: {@code SwiGluOpenClTest}.
 */
public final class SwiGluOpenCl implements AutoCloseable {
    public static final String NORM_QUANT = "swiglu_norm_quant_f32_i8";

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram normQuant;

    public SwiGluOpenCl(Device device, Tiling tiling) {
        this.device = device;
        this.tiling = tiling;
        this.normQuant = ClPrograms.build(device, tiling, "swiglu/" + NORM_QUANT + ".cl");
    }

    /** @param gu [rows][2I] f32 (I = out.k()); norm: [I] down_proj's norm */
    public Launch normQuant(DeviceBuffer gu, DeviceBuffer norm, float eps, QuantizedInput out, int rows) {
        int i = out.k();
        if (out.projections() != 1 || rows < 1 || rows > out.capacity()) {
            throw new MmfreeException(NORM_QUANT + ": needs one projection and 1.." + out.capacity() + " rows, got "
                    + out.projections() + " and " + rows);
        }
        need(gu, 8L * rows * i, "gu");
        int wg = tiling.workGroup();
        long kPad = QuantizedInput.kPad(i);
        ClPrograms.checkLocal(device, NORM_QUANT, 4 * kPad + 8L * wg);
        var k = normQuant.kernel(NORM_QUANT).args(gu, norm, eps, i, out.chunks(), out.q(), out.factor(), out.qsum());
        k.argLocal(8, 4 * kPad).argLocal(9, 8L * wg);
        return new Launch(k, new long[]{(long) rows * wg}, new long[]{wg});
    }

    private static void need(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) {
            throw new MmfreeException("swiglu: buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + bytes);
        }
    }

    @Override
    public void close() {
        normQuant.close();
    }
}
