package dev.mmfree.kernels.sampling;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * Sampling on the device, so a decode step returns 4 bytes a sequence instead of its logits;
 * {@link SamplerReference} is the rule.
 * <ul>
 *   <li>{@value #ARGMAX}: greedy, the lowest index among equal maxima;</li>
 *   <li>{@value #TOP_KP}: temperature, top-k and top-p with one uniform u a row and step from the host
 *       (the caller's seeded {@code SplittableRandom}); cutoffs by bisection on the order key, so a few
 *       dozen work-group reductions a row: cheap next to a model step, not free. Needs fp64.</li>
 * </ul>
 * A row whose logits hold NaN, +Infinity or no finite value yields id -1; {@link #check} turns that
 * into the reference's {@link SamplingException}. Tests: {@code SamplerOpenClTest}.
 */
public final class SamplerOpenCl implements AutoCloseable {
    public static final String ARGMAX = "argmax_f32";
    public static final String TOP_KP = "sample_top_kp_f32";

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram argmax;
    private DeviceProgram topKp;

    public SamplerOpenCl(Device device, Tiling tiling) {
        this.device = device;
        this.tiling = tiling;
        this.argmax = ClPrograms.build(device, tiling, "sampling/" + ARGMAX + ".cl");
    }

    /** Greedy: ids[t] = argmax of logits[t][0, v). logits: [rows][stride] f32; ids: [rows] int. */
    public Launch argmax(DeviceBuffer logits, int v, int stride, DeviceBuffer ids, int rows) {
        checkRows(logits, v, stride, ids, rows);
        int wg = tiling.workGroup();
        var k = argmax.kernel(ARGMAX).args(logits, v, stride, ids);
        k.argLocal(4, 4L * wg).argLocal(5, 4L * wg);
        return new Launch(k, new long[]{(long) rows * wg}, new long[]{wg});
    }

    /**
     * ids[t] = the token SamplerReference picks for logits[t] under params with uniform u[t]; greedy
     * params take {@link #argmax}.
     *
     * @param u       [rows] double, written by the caller before each launch
     * @param scratch [rows][v] double
     */
    public Launch sample(DeviceBuffer logits, int v, int stride, SamplingParams params, DeviceBuffer u, DeviceBuffer scratch,
                         DeviceBuffer ids, int rows) {
        if (params.isGreedy()) {
            return argmax(logits, v, stride, ids, rows);
        }
        if (!device.info().fp64()) {
            throw new DeviceException(TOP_KP + ": needs fp64, which " + device.info().name() + " lacks; sample on the host");
        }
        checkRows(logits, v, stride, ids, rows);
        if (u.bytes() < 8L * rows || scratch.bytes() < 8L * rows * v) {
            throw new MmfreeException(TOP_KP + ": u (" + u.bytes() + " bytes) or scratch (" + scratch.bytes()
                    + " bytes) too small for " + rows + " rows of " + v);
        }
        if (topKp == null) {
            topKp = ClPrograms.build(device, tiling, "sampling/" + TOP_KP + ".cl");
        }
        int wg = tiling.workGroup();
        var k = topKp.kernel(TOP_KP).args(logits, v, stride, params.temperature(), params.topK(), params.topP(), u, scratch, ids);
        k.argLocal(9, 8L * wg).argLocal(10, 4L * wg);
        return new Launch(k, new long[]{(long) rows * wg}, new long[]{wg});
    }

    /** Fails like the reference where the device marked a row unsampleable (id -1). */
    public static int[] check(int[] ids) {
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0) {
                throw new SamplingException("sampling: logits of row " + t + " hold NaN or +Infinity, or no finite value");
            }
        }
        return ids;
    }

    private static void checkRows(DeviceBuffer logits, int v, int stride, DeviceBuffer ids, int rows) {
        if (logits.bytes() < 4L * ((long) (rows - 1) * stride + v) || ids.bytes() < 4L * rows) {
            throw new MmfreeException("sampling: logits (" + logits.bytes() + " bytes) or ids (" + ids.bytes()
                    + " bytes) too small for " + rows + " rows of " + v);
        }
    }

    @Override
    public void close() {
        argmax.close();
        if (topKp != null) {
            topKp.close();
        }
    }
}
