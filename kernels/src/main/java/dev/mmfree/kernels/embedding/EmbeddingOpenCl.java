package dev.mmfree.kernels.embedding;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * Embedding lookup on OpenCL ({@value #KERNEL}): {@code x[t] = E[ids[t]]}, E: [V, d] f32, x: [rows][d] f32.
 * Ids are not range-checked on the device: callers check them on the host first.
 * Tests: {@code EmbeddingOpenClTest}.
 */
public final class EmbeddingOpenCl implements AutoCloseable {
    public static final String KERNEL = "embedding_gather_f32";

    private final DeviceProgram program;

    public EmbeddingOpenCl(Device device, Tiling tiling) {
        this.program = ClPrograms.build(device, tiling, "embedding/" + KERNEL + ".cl");
    }

    /** @param ids [rows] int; table [V][d]; x [rows][d] */
    public Launch gather(DeviceBuffer ids, DeviceBuffer table, DeviceBuffer x, int d, int rows) {
        if (ids.bytes() < 4L * rows || x.bytes() < 4L * rows * d) {
            throw new MmfreeException(KERNEL + ": ids (" + ids.bytes() + " bytes) or x (" + x.bytes() + " bytes) too small for "
                    + rows + " rows of d " + d);
        }
        var k = program.kernel(KERNEL).args(ids, table, x, d);
        return new Launch(k, new long[]{ClPrograms.roundUp(d, 64), rows}, new long[]{64, 1});
    }

    @Override
    public void close() {
        program.close();
    }
}
