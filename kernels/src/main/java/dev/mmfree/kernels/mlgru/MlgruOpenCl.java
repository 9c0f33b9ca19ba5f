package dev.mmfree.kernels.mlgru;

import dev.mmfree.kernels.bitlinear.DeviceTernaryMatrix;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * The MLGRU on OpenCL ({@link MlgruReference} is the math):
 * <ul>
 *   <li>{@value #SCAN}: the recurrence over t tokens per (sequence, channel), for prefill and batched
 *       decode; writes the gate multiplier silu(state_t) that {@code rms_norm_quant_f32_i8} applies
 *       with g_norm and o_proj's norm next.</li>
 *   <li>{@value #FUSED}: a whole decode step of one sequence fused into o_proj: gates, state update,
 *       output gate, o_proj's norm and quantizer in the GEMV's prologue, the residual add in its
 *       epilogue; one launch instead of three.</li>
 * </ul>
 * States are double-buffered (stateIn and stateOut must differ). Tests: {@code MlgruOpenClTest}.
 */
public final class MlgruOpenCl implements AutoCloseable {
    public static final String SCAN = "mlgru_scan_f32";
    public static final String FUSED = "bitlinear_mlgru_t2_f32";

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram scan;
    private final DeviceProgram fused;

    public MlgruOpenCl(Device device, Tiling tiling) {
        this.device = device;
        this.tiling = tiling;
        this.scan = ClPrograms.build(device, tiling, "mlgru/" + SCAN + ".cl");
        this.fused = ClPrograms.build(device, tiling, "mlgru/" + FUSED + ".cl");
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
     * One decode step fused into o_proj: y (+)= BitLinear_oProj(RMSNorm_gNorm(g) * silu(state')).
     *
     * @param ifg [3d] f32; lb, gNorm, oNorm: [d]; stateIn/stateOut: [d]; y: [out] f32
     */
    public Launch fusedStep(DeviceBuffer ifg, DeviceBuffer lb, DeviceBuffer stateIn, DeviceBuffer stateOut,
                            DeviceBuffer gNorm, float eps1, DeviceBuffer oNorm, float eps2,
                            DeviceTernaryMatrix oProj, DeviceBuffer y, boolean accumulate) {
        int d = oProj.in();
        if (stateIn == stateOut) {
            throw new MmfreeException(FUSED + ": stateIn and stateOut must be distinct buffers");
        }
        if (oProj.projections() != 1) {
            throw new MmfreeException(FUSED + ": o_proj must be one projection, got " + oProj.projections());
        }
        need(ifg, 12L * d, "ifg");
        need(stateIn, 4L * d, "stateIn");
        need(stateOut, 4L * d, "stateOut");
        need(y, 4L * oProj.out(), "y");
        int wg = tiling.workGroup();
        long kPad = 64L * oProj.chunks();
        ClPrograms.checkLocal(device, FUSED, 9 * kPad + 8L * wg);
        var k = fused.kernel(FUSED).args(ifg, lb, stateIn, stateOut, gNorm, eps1, oNorm, eps2, oProj.codes(), oProj.scales(),
                d, oProj.out(), oProj.outPad(), oProj.chunks(), y, accumulate ? 1 : 0);
        k.argLocal(16, 4 * kPad).argLocal(17, 4 * kPad).argLocal(18, kPad).argLocal(19, 8L * wg);
        return new Launch(k, new long[]{(long) oProj.rowsPad() / tiling.rows() * wg}, new long[]{wg});
    }

    private static void need(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) {
            throw new MmfreeException("mlgru: buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + bytes);
        }
    }

    @Override
    public void close() {
        scan.close();
        fused.close();
    }
}
