package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;

/**
 * The device state of the grid barriers of a one-launch kernel ({@code opencl/grid.cl}): a sync word per
 * work-group count (8 bytes, zeroed once: the ticket ranges assume the same count at every barrier since then)
 * and one flag that a barrier sets when it gave up waiting, because the device did not run all work-groups of
 * the launch at once. The flag is checked after the launches, by a blocking read ({@link #check()}) or by a copy
 * queued behind them ({@link #readAsync}, then {@link #check(ByteBuffer)}); a set flag fails with a
 * {@link DeviceException} that names the kernel and the fallback without barriers, and leaves the state ready again.
 */
public final class GridBarriers implements AutoCloseable {
    /** Polls before a barrier gives up on a GPU: about a minute on the H200, where a poll is an L2 round trip. */
    public static final long GPU_SPIN_LIMIT = 1L << 26;
    /**
     * Polls before a barrier gives up on a CPU: about 2-5 s under PoCL (0.5-1.1 ns a poll). The GPU's count would
     * be 30-75 ms there, shorter than the time slices a loaded two-core host can take from the thread of a
     * work-group still on its way to the barrier: a correct launch then failed as if its work-groups were not
     * co-resident.
     */
    public static final long CPU_SPIN_LIMIT = 1L << 32;

    private final Device device;
    private final String kernel;
    private final String fallback;
    private final Map<Integer, DeviceBuffer> syncs = new HashMap<>();
    private DeviceBuffer error;   // [1] int: set when a grid barrier gave up

    /**
     * @param kernel   the kernel's name, for buffer roles and errors
     * @param fallback how to run without grid barriers, for the error, e.g. "set MMFREE_X=0"
     */
    public GridBarriers(Device device, String kernel, String fallback) {
        this.device = device;
        this.kernel = kernel;
        this.fallback = fallback;
    }

    /** {@code opencl/grid.cl} with the {@code SPIN_LIMIT} of {@code info}'s device (a build option may override it). */
    public static String source(DeviceInfo info) {
        return "#ifndef SPIN_LIMIT\n#define SPIN_LIMIT " + spinLimit(info) + "L\n#endif\n"
                + ClPrograms.resource("opencl/grid.cl");
    }

    /** {@link #GPU_SPIN_LIMIT} on a GPU, else {@link #CPU_SPIN_LIMIT}. */
    public static long spinLimit(DeviceInfo info) {
        return info.gpu() ? GPU_SPIN_LIMIT : CPU_SPIN_LIMIT;
    }

    /** The sync word of launches of {@code groups} work-groups, allocated and zeroed at first use. */
    public DeviceBuffer sync(int groups) {
        if (groups < 1) {
            throw new MmfreeException(kernel + ": work-groups must be >= 1, got " + groups);
        }
        return syncs.computeIfAbsent(groups, n -> {
            DeviceBuffer b = device.allocate(MemoryCategory.WORKSPACE, 8, kernel + " barrier, " + n + " work-groups");
            device.fill(b, 0);
            return b;
        });
    }

    /** The flag [1] int the barriers set when they gave up, allocated and cleared at first use. */
    public DeviceBuffer error() {
        if (error == null) {
            error = device.allocate(MemoryCategory.WORKSPACE, 4, kernel + " error");
            device.fill(error, 0);
        }
        return error;
    }

    /** Fails (and clears the flag) when a barrier of the launches queued so far gave up; waits for them. */
    public void check() {
        if (error == null) {
            return;
        }
        int[] flag = new int[1];
        device.read(error, flag);
        failIfSet(flag[0]);
    }

    /**
     * {@link #check()} without the wait: queues a copy of the flag, behind the launches queued so far, into
     * {@code into} (4 bytes of page-locked memory, see {@link Device#allocateHost}). Once the returned event
     * has completed, {@link #check(ByteBuffer)} checks the copy. Null, with a clear flag in {@code into}, while
     * no launch has used the flag.
     */
    public DeviceEvent readAsync(ByteBuffer into) {
        if (into.capacity() < 4) {
            throw new MmfreeException(kernel + ": the flag's copy needs 4 bytes, got " + into.capacity());
        }
        if (error == null) {
            into.putInt(0, 0);
            return null;
        }
        return device.readAsync(error, 0, into.slice(0, 4));
    }

    /** {@link #check()} on a flag that a completed {@link #readAsync} copied into {@code flag}. */
    public void check(ByteBuffer flag) {
        failIfSet(flag.getInt(0));
    }

    private void failIfSet(int flag) {
        if (flag != 0) {
            if (error != null) {
                device.fill(error, 0);
            }
            syncs.values().forEach(b -> device.fill(b, 0));
            throw new DeviceException(kernel + ": a grid barrier timed out: device " + device.info().name()
                    + " did not run all work-groups of the launch at once; the step's results are invalid ("
                    + fallback + ")");
        }
    }

    @Override
    public void close() {
        syncs.values().forEach(DeviceBuffer::close);
        syncs.clear();
        if (error != null) {
            error.close();
            error = null;
        }
    }
}
