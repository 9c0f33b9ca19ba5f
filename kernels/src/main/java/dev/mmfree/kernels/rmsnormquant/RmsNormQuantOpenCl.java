package dev.mmfree.kernels.rmsnormquant;

import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * RMSNorm + int8 quantize on OpenCL ({@value #KERNEL}), rows of BitLinear inputs for the GEMM path:
 * {@code q, a = quantize(RMSNorm_norm2[p](RMSNorm_norm1(x) * mult))}, the first norm and the
 * multiplier optional, P projections at once (i, f and g share x with three norms).
 * One work-group per (row, projection); the decode path fuses the same math into the GEMV instead.
 * {@value #MLGRU_KERNEL} runs a batched decode step's MLGRU (one token a sequence) in front of the output gate's
 * norm-quantize, one launch instead of {@code mlgru_scan_f32} and this one.
 * Tests: {@code RmsNormQuantOpenClTest}.
 */
public final class RmsNormQuantOpenCl implements AutoCloseable {
    public static final String KERNEL = "rms_norm_quant_f32_i8";
    public static final String MLGRU_KERNEL = "mlgru_norm_quant_f32_i8";

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram program;

    public RmsNormQuantOpenCl(Device device, Tiling tiling) {
        this.device = device;
        this.tiling = tiling;
        this.program = ClPrograms.build(device, tiling, "rmsnormquant/" + KERNEL + ".cl");
    }

    /**
     * Quantizes rows t < rows of x (row t at {@code x + t * xStride + xOffset}, K = out.k() floats) into out.
     *
     * @param mult  [rows][K] multiplier after the first norm, or null
     * @param norm1 [K] the first (block) norm, or null for none
     * @param norm2 [P][K] the projections' norms (P = out.projections())
     */
    public Launch normQuant(DeviceBuffer x, int xStride, int xOffset, DeviceBuffer mult, DeviceBuffer norm1, float eps1,
                            DeviceBuffer norm2, float eps2, QuantizedInput out, int rows) {
        int k = out.k();
        if (rows < 1 || rows > out.capacity()) {
            throw new MmfreeException(KERNEL + ": rows " + rows + " outside 1.." + out.capacity());
        }
        if (x.bytes() < 4L * ((long) (rows - 1) * xStride + xOffset + k)) {
            throw new MmfreeException(KERNEL + ": x (" + x.role() + ") too small for " + rows + " rows of stride " + xStride);
        }
        if (norm2.bytes() < 4L * out.projections() * k) {
            throw new MmfreeException(KERNEL + ": norm2 (" + norm2.role() + ") has " + norm2.bytes() / 4 + " floats, needs "
                    + (long) out.projections() * k);
        }
        int wg = tiling.workGroup();
        long kPad = QuantizedInput.kPad(k);
        ClPrograms.checkLocal(device, KERNEL, 4 * kPad + 8L * wg);
        var kernel = program.kernel(KERNEL).args(x, xStride, xOffset, mult == null ? x : mult, mult == null ? 0 : 1,
                norm1 == null ? x : norm1, norm1 == null ? 0 : 1, eps1, norm2, eps2, k, out.chunks(),
                out.q(), out.factor(), out.qsum());
        kernel.argLocal(15, 4 * kPad).argLocal(16, 8L * wg);
        return new Launch(kernel, new long[]{(long) rows * wg, out.projections()}, new long[]{wg, 1});
    }

    /**
     * One MLGRU token step for each of rows sequences, then o_proj's input: {@code state' = step(state, i, fPre)},
     * {@code q, a = quantize(RMSNorm_oNorm(RMSNorm_gNorm(g) * silu(state')))} ({@link dev.mmfree.kernels.mlgru.MlgruReference}),
     * bit for bit as {@code MlgruOpenCl.scan} at one token followed by {@link #normQuant} with mult = its gate.
     *
     * @param ifg      [rows][3d] f32: i, fPre, g (d = out.k())
     * @param lb       [d] the layer's lower bound
     * @param stateIn  [rows][d], stateOut [rows][d] (distinct)
     * @param gNorm    [d] the output gate's norm; oNorm [d] o_proj's
     * @param out      one projection of d inputs
     */
    public Launch mlgruNormQuant(DeviceBuffer ifg, DeviceBuffer lb, DeviceBuffer stateIn, DeviceBuffer stateOut,
                                 DeviceBuffer gNorm, float eps1, DeviceBuffer oNorm, float eps2, QuantizedInput out, int rows) {
        int d = out.k();
        if (out.projections() != 1) {
            throw new MmfreeException(MLGRU_KERNEL + ": one projection (o_proj), got " + out.projections());
        }
        if (rows < 1 || rows > out.capacity()) {
            throw new MmfreeException(MLGRU_KERNEL + ": rows " + rows + " outside 1.." + out.capacity());
        }
        if (stateIn == stateOut) {
            throw new MmfreeException(MLGRU_KERNEL + ": stateIn and stateOut must be distinct buffers");
        }
        need(ifg, 12L * rows * d, "ifg");
        need(stateIn, 4L * rows * d, "stateIn");
        need(stateOut, 4L * rows * d, "stateOut");
        need(lb, 4L * d, "lb");
        need(gNorm, 4L * d, "gNorm");
        need(oNorm, 4L * d, "oNorm");
        int wg = tiling.workGroup();
        long kPad = QuantizedInput.kPad(d);
        ClPrograms.checkLocal(device, MLGRU_KERNEL, 4 * kPad + 8L * wg);
        var kernel = program.kernel(MLGRU_KERNEL).args(ifg, lb, stateIn, stateOut, gNorm, eps1, oNorm, eps2, d, out.chunks(),
                out.q(), out.factor(), out.qsum());
        kernel.argLocal(13, 4 * kPad).argLocal(14, 8L * wg);
        return new Launch(kernel, new long[]{(long) rows * wg, 1}, new long[]{wg, 1});
    }

    private static void need(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) {
            throw new MmfreeException(MLGRU_KERNEL + ": buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + bytes);
        }
    }

    @Override
    public void close() {
        program.close();
    }
}
