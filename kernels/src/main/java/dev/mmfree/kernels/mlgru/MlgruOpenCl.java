package dev.mmfree.kernels.mlgru;

import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * The MLGRU on OpenCL ({@link MlgruReference} is the math) for prefill and batched decode, two ways:
 * <ul>
 *   <li>{@value #SCAN}: the recurrence over t tokens per (sequence, channel); it writes the gate
 *       multiplier silu(state_t) that {@code rms_norm_quant_f32_i8} applies with g_norm and o_proj's
 *       norm next. Many work-groups whatever the batch: the choice for long scans.</li>
 *   <li>{@value #SCAN_NORM_QUANT}: the same recurrence and o_proj's quantized input in one launch,
 *       one work-group a sequence: the choice for a batched decode step (t = 1).</li>
 * </ul>
 * A batch-1 decode step runs in the epilogue of i|f|g's GEMV instead
 * ({@code BitLinearDecodeOpenCl#mlgruStep}). States are double-buffered (stateIn and stateOut must
 * differ). Tests: {@code MlgruOpenClTest}.
 */
public final class MlgruOpenCl implements AutoCloseable {
    public static final String SCAN = "mlgru_scan_f32";
    public static final String SCAN_NORM_QUANT = "mlgru_scan_norm_quant_f32_i8";

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram scan;

    public MlgruOpenCl(Device device, Tiling tiling) {
        this.device = device;
        this.tiling = tiling;
        this.scan = ClPrograms.build(device, tiling, "mlgru/" + SCAN + ".cl", "mlgru/" + SCAN_NORM_QUANT + ".cl");
    }

    /**
     * @param ifg      [b][t][3d] f32: i, fPre, g
     * @param lb       [d] the layer's lower bound
     * @param stateIn  [b][d], stateOut [b][d] (distinct)
     * @param gate     [b][t][d] f32 out: silu(state) after each token
     */
    public Launch scan(DeviceBuffer ifg, DeviceBuffer lb, DeviceBuffer stateIn, DeviceBuffer stateOut, DeviceBuffer gate,
                       int d, int t, int b) {
        if (stateIn == stateOut) {
            throw new MmfreeException(SCAN + ": stateIn and stateOut must be distinct buffers");
        }
        need(ifg, 12L * b * t * d, "ifg");
        need(gate, 4L * b * t * d, "gate");
        need(stateIn, 4L * b * d, "stateIn");
        need(stateOut, 4L * b * d, "stateOut");
        var k = scan.kernel(SCAN).args(ifg, lb, stateIn, stateOut, gate, d, t);
        return new Launch(k, new long[]{ClPrograms.roundUp(d, 64), b}, new long[]{64, 1});
    }

    /**
     * The recurrence over t tokens of b sequences, then o_proj's input of each row {@code b * t}:
     * {@code out = quantize(RMSNorm_norm2(RMSNorm_norm1(g) * silu(state)))}, as {@link #scan} followed by
     * {@code RmsNormQuantOpenCl#normQuant} with that multiplier computes it, code for code.
     *
     * @param ifg   [b][t][3d] f32: i, fPre, g
     * @param norm1 [d] g_norm's weight
     * @param norm2 [d] o_proj's input norm
     * @param out   o_proj's quantized input (one projection of k = d, capacity >= b * t)
     */
    public Launch scanNormQuant(DeviceBuffer ifg, DeviceBuffer lb, DeviceBuffer stateIn, DeviceBuffer stateOut,
                                DeviceBuffer norm1, float eps1, DeviceBuffer norm2, float eps2,
                                QuantizedInput out, int d, int t, int b) {
        if (stateIn == stateOut) {
            throw new MmfreeException(SCAN_NORM_QUANT + ": stateIn and stateOut must be distinct buffers");
        }
        if (out.projections() != 1 || out.k() != d || out.capacity() < (long) b * t) {
            throw new MmfreeException(SCAN_NORM_QUANT + ": out holds " + out.projections() + " x " + out.capacity()
                    + " rows of " + out.k() + ", needs 1 x " + (long) b * t + " of " + d);
        }
        need(ifg, 12L * b * t * d, "ifg");
        need(lb, 4L * d, "lb");
        need(norm1, 4L * d, "norm1");
        need(norm2, 4L * d, "norm2");
        need(stateIn, 4L * b * d, "stateIn");
        need(stateOut, 4L * b * d, "stateOut");
        int wg = tiling.workGroup();
        long kPad = QuantizedInput.kPad(d);
        ClPrograms.checkLocal(device, SCAN_NORM_QUANT, 4 * kPad + 4L * d + 8L * wg);
        var k = scan.kernel(SCAN_NORM_QUANT).args(ifg, lb, stateIn, stateOut, d, t, norm1, eps1, norm2, eps2,
                out.chunks(), out.q(), out.factor(), out.qsum());
        k.argLocal(14, 4 * kPad).argLocal(15, 4L * d).argLocal(16, 8L * wg);
        return new Launch(k, new long[]{(long) b * wg}, new long[]{wg});
    }

    private static void need(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) {
            throw new MmfreeException("mlgru: buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + bytes);
        }
    }

    @Override
    public void close() {
        scan.close();
    }
}
