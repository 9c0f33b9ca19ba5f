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
 * The MLGRU on OpenCL ({@link MlgruReference} is the math): {@value #SCAN}, the recurrence over t
 * tokens per (sequence, channel), for prefill; it writes the gate multiplier silu(state_t) that
 * {@code rms_norm_quant_f32_i8} applies with g_norm and o_proj's norm next. A batched decode step runs
 * inside that norm-quantize instead ({@code RmsNormQuantOpenCl#mlgruNormQuant}), and a batch-1 step in
 * the epilogue of i|f|g's GEMV ({@code BitLinearDecodeOpenCl#mlgruStep}). States are double-buffered (stateIn and stateOut must
 * differ). Tests: {@code MlgruOpenClTest}.
 */
public final class MlgruOpenCl implements AutoCloseable {
    public static final String SCAN = "mlgru_scan_f32";

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram scan;

    public MlgruOpenCl(Device device, Tiling tiling) {
        this.device = device;
        this.tiling = tiling;
        this.scan = ClPrograms.build(device, tiling, "mlgru/" + SCAN + ".cl");
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
