package dev.mmfree.kernels.sampling;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * Greedy sampling on the device ({@value #KERNEL}): {@code ids[t] = argmax_j logits[t][j]}, the lowest
 * index among equal maxima, NaN never chosen; so a decode step returns 4 bytes a sequence instead of
 * the logits. Tests: {@code GreedyOpenClTest}.
 */
public final class GreedyOpenCl implements AutoCloseable {
    public static final String KERNEL = "argmax_f32";

    private final Device device;
    private final Tiling tiling;
    private final DeviceProgram program;

    public GreedyOpenCl(Device device, Tiling tiling) {
        this.device = device;
        this.tiling = tiling;
        this.program = ClPrograms.build(device, tiling, "sampling/" + KERNEL + ".cl");
    }

    /** @param logits [rows][stride] f32, the first v of each row are scored; ids [rows] int */
    public Launch argmax(DeviceBuffer logits, int v, int stride, DeviceBuffer ids, int rows) {
        if (logits.bytes() < 4L * ((long) (rows - 1) * stride + v) || ids.bytes() < 4L * rows) {
            throw new MmfreeException(KERNEL + ": logits (" + logits.bytes() + " bytes) or ids (" + ids.bytes()
                    + " bytes) too small for " + rows + " rows of " + v);
        }
        int wg = tiling.workGroup();
        ClPrograms.checkLocal(device, KERNEL, 8L * wg);
        var k = program.kernel(KERNEL).args(logits, v, stride, ids);
        k.argLocal(4, 4L * wg).argLocal(5, 4L * wg);
        return new Launch(k, new long[]{(long) rows * wg}, new long[]{wg});
    }

    @Override
    public void close() {
        program.close();
    }
}
