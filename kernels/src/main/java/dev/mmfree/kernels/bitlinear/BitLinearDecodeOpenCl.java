package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

import java.util.HashMap;
import java.util.Map;

/**
 * The batch-1 decode kernels: one launch a BitLinear, each with its input side (RMSNorms, the int8
 * quantizer) in front and its consumer behind, so an HGRNBit layer is four launches:
 * <ol>
 *   <li>{@link #mlgruStep}: i|f|g from the block input, then the MLGRU recurrence in the epilogue;</li>
 *   <li>{@link #gemv} for o_proj on RMSNorm(g) * silu(state) (the output gate), residual add;</li>
 *   <li>{@link #swiGluGateUp}: gate|up from the block input, then silu(gate) * up in the epilogue;</li>
 *   <li>{@link #gemv} for down_proj, residual add.</li>
 * </ol>
 * Every element-wise transcendental is computed once by the work-item that owns its row (not again
 * in every work-group of the next kernel); each work-item issues all its global loads first (its
 * weight words, its input elements and norm weights) and runs the input side in registers with three
 * work-group reductions. One source, {@code bitlinear_fused_t2_f32.cl}, compiled per use with
 * defines (rows a work-item, epilogue, norms, prefetch depth, input words a work-item), programs
 * cached by them. Tests: {@code BitLinearDecodeOpenClTest}.
 */
public final class BitLinearDecodeOpenCl implements AutoCloseable {
    public static final String KERNEL = "bitlinear_fused_t2_f32";
    /**
     * Chunks a work-item prefetches a row: its chunk count rounded up to a power of two, at most this
     * (all of them at the 2.7B shapes); powers of two keep the number of compiled variants small.
     */
    private static final int MAX_PREFETCH = 8;

    private final Device device;
    private final Tiling tiling;
    private final Map<String, DeviceProgram> programs = new HashMap<>();

    public BitLinearDecodeOpenCl(Device device, Tiling tiling) {
        this.device = device;
        this.tiling = tiling;
    }

    public Tiling tiling() {
        return tiling;
    }

    /**
     * y (+)= BitLinear_w(h) for one token, with h = RMSNorm_norm1(x) (eps1) [* mult], or h = x when
     * norm1 is null: o_proj (norm1 = the output gate's norm, mult = silu(state)), down_proj, lm_head.
     *
     * @param x [K] f32; norm1, mult: [K] or null; norm2: [K], the BitLinear's own norm; y: [out] f32
     */
    public Launch gemv(DeviceTernaryMatrix w, DeviceBuffer x, DeviceBuffer norm1, float eps1, DeviceBuffer mult,
                       DeviceBuffer norm2, float eps2, DeviceBuffer y, boolean accumulate) {
        if (w.projections() != 1) {
            throw new MmfreeException(KERNEL + ": gemv takes one projection, got " + w.projections());
        }
        if (mult != null && norm1 == null) {
            throw new MmfreeException(KERNEL + ": a multiplier needs norm1");
        }
        int k = w.in();
        need(x, 4L * k, "x");
        need(norm2, 4L * k, "norm2");
        if (norm1 != null) {
            need(norm1, 4L * k, "norm1");
        }
        if (mult != null) {
            need(mult, 4L * k, "mult");
        }
        need(y, 4L * w.out(), "y");
        String defines = "-DNP=1 -DNQ=1 -DEPI=0 -DNORM1=" + (norm1 == null ? 0 : 1) + " -DMULT=" + (mult == null ? 0 : 1);
        return launch(defines, 1, 1, w, w.out(), 0, x, norm1, eps1, mult, norm2, eps2, y, y, accumulate, x, x, y);
    }

    /**
     * The MLGRU's input side and its recurrence for one token: i|f|g = BitLinear_p(RMSNorm_ifgNorm[p](
     * RMSNorm_norm1(x))), then f = lb + (1 - lb) * sigmoid(fPre), state' = f * state + silu(i) * (1 - f).
     *
     * @param ifg      the stacked i, f, g projections, each [d, d]
     * @param norm2    [3][d] each projection's own norm
     * @param lb       [d] the layer's lower bound
     * @param stateIn  [d] f32; stateOut [d] f32 (may be the same buffer)
     * @param g        [d] f32 out: g, the output gate's input
     * @param gate     [d] f32 out: silu(state'), the output gate's multiplier
     */
    public Launch mlgruStep(DeviceTernaryMatrix ifg, DeviceBuffer x, DeviceBuffer norm1, float eps1, DeviceBuffer norm2,
                            float eps2, DeviceBuffer lb, DeviceBuffer stateIn, DeviceBuffer stateOut,
                            DeviceBuffer g, DeviceBuffer gate) {
        int d = ifg.in();
        if (ifg.projections() != 3 || ifg.out() != d) {
            throw new MmfreeException(KERNEL + ": the MLGRU step needs 3 stacked [d, d] projections, got "
                    + ifg.projections() + " x [" + ifg.out() + ", " + d + "]");
        }
        need(x, 4L * d, "x");
        need(norm1, 4L * d, "norm1");
        need(norm2, 12L * d, "norm2");
        need(lb, 4L * d, "lb");
        need(stateIn, 4L * d, "stateIn");
        need(stateOut, 4L * d, "stateOut");
        need(g, 4L * d, "g");
        need(gate, 4L * d, "gate");
        return launch("-DNP=3 -DNQ=3 -DEPI=1 -DNORM1=1 -DMULT=0", 3, 3, ifg, d, ifg.outPad(), x, norm1, eps1, x, norm2, eps2,
                g, gate, false, lb, stateIn, stateOut);
    }

    /**
     * gate_proj's input side and SwiGLU for one token: gate|up = BitLinear(RMSNorm_norm2(RMSNorm_norm1(x))),
     * v = silu(gate) * up.
     *
     * @param gateUp one projection [2I, d]: rows [0, I) gate, [I, 2I) up
     * @param v      [I] f32 out
     */
    public Launch swiGluGateUp(DeviceTernaryMatrix gateUp, DeviceBuffer x, DeviceBuffer norm1, float eps1,
                               DeviceBuffer norm2, float eps2, DeviceBuffer v) {
        int k = gateUp.in();
        if (gateUp.projections() != 1 || gateUp.out() % 2 != 0) {
            throw new MmfreeException(KERNEL + ": gate|up must be one projection of even out, got "
                    + gateUp.projections() + " x [" + gateUp.out() + ", " + k + "]");
        }
        int i = gateUp.out() / 2;
        need(x, 4L * k, "x");
        need(norm1, 4L * k, "norm1");
        need(norm2, 4L * k, "norm2");
        need(v, 4L * i, "v");
        return launch("-DNP=2 -DNQ=1 -DEPI=2 -DNORM1=1 -DMULT=0", 2, 1, gateUp, i, i, x, norm1, eps1, x, norm2, eps2,
                v, v, false, x, x, v);
    }

    private Launch launch(String defines, int np, int nq, DeviceTernaryMatrix w, int rows, int rowStride,
                          DeviceBuffer x, DeviceBuffer norm1, float eps1, DeviceBuffer mult, DeviceBuffer norm2, float eps2,
                          DeviceBuffer y, DeviceBuffer y2, boolean accumulate,
                          DeviceBuffer lb, DeviceBuffer stateIn, DeviceBuffer stateOut) {
        int wg = tiling.workGroup();
        int chunks = w.chunks();
        int perItem = (chunks + tiling.slices() - 1) / tiling.slices();
        int prefetch = Math.min(MAX_PREFETCH, Integer.highestOneBit(Math.max(1, 2 * perItem - 1)));
        long kPad = 64L * chunks;
        long wordsPerItem = (kPad / 4 + wg - 1) / wg;
        long local = nq * kPad + 4L * np * wg + 8L * nq * wg;
        ClPrograms.checkLocal(device, KERNEL, local);
        DeviceProgram program = programs.computeIfAbsent(defines + " -DPF=" + prefetch + " -DEPW=" + wordsPerItem,
                opts -> ClPrograms.buildWith(device, tiling, opts, "bitlinear/" + KERNEL + ".cl"));
        var k = program.kernel(KERNEL).args(x, norm1 == null ? x : norm1, eps1, mult == null ? x : mult, norm2, eps2,
                w.codes(), w.scales(), w.in(), rows, rowStride, w.rowsPad(), chunks, y, y2, accumulate ? 1 : 0,
                lb, stateIn, stateOut);
        k.argLocal(19, nq * kPad).argLocal(20, 4L * np * wg).argLocal(21, 8L * nq * wg);
        long groups = (rows + tiling.rows() - 1) / tiling.rows();
        return new Launch(k, new long[]{groups * wg}, new long[]{wg});
    }

    private static void need(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) {
            throw new MmfreeException(KERNEL + ": buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + bytes);
        }
    }

    @Override
    public void close() {
        programs.values().forEach(DeviceProgram::close);
        programs.clear();
    }
}
