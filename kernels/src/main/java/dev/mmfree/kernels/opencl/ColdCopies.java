package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;

import java.util.ArrayList;
import java.util.List;

/**
 * The benchmarks' roofline for a kernel that moves a given number of bytes: float4 copies
 * ({@code bitlinear/copy_f32x4.cl}) of that many bytes, half read and half written, over as many buffer pairs
 * as take {@code coldBytes} together, so that launching them in turn finds each pair outside the caches, as a
 * model finds its weights. Small copies ramp up and drain like small kernels, which a copy of hundreds of MiB
 * hides. The benchmark times {@link #launches()} with its own clock; closing frees the buffers.
 *
 * <p>{@link #reads} is the roofline of a kernel that only reads, as a GEMV does: each launch reads its own
 * buffer of the given bytes ({@code read_f32x4}) and writes nothing. A copy of the same bytes reads only half
 * of them, and its writes may stay in L2 until a later launch evicts them.
 */
public final class ColdCopies implements AutoCloseable {
    private final DeviceProgram program;
    private final List<DeviceBuffer> buffers = new ArrayList<>();
    private final List<Launch> launches = new ArrayList<>();
    private final long half;
    private final boolean readOnly;

    /** Copies of about {@code bytes} each (rounded down to whole 4 KiB halves, at least one). */
    public ColdCopies(Device device, long bytes, long coldBytes) {
        this(device, half(bytes), coldBytes, false);
    }

    /** Reads of about {@code bytes} each (rounded down to whole 8 KiB, at least 8 KiB), over as many buffers as take coldBytes. */
    public static ColdCopies reads(Device device, long bytes, long coldBytes) {
        return new ColdCopies(device, half(bytes), coldBytes, true, null, false);
    }

    /**
     * {@link #reads} whose work-groups stamp their clocks into {@code trace} ({@code read_f32x4_traced}, marks of
     * {@code opencl/trace.cl}: {@link #readGroups} x 5 longs), read through {@code ptx}'s clock where the device has it.
     */
    public static ColdCopies tracedReads(Device device, long bytes, long coldBytes, DeviceBuffer trace, boolean ptx) {
        return new ColdCopies(device, half(bytes), coldBytes, true, trace, ptx);
    }

    /** Work-groups of one read of about {@code bytes}: 256 work-items of 16 bytes each. */
    public static long readGroups(long bytes) {
        return 2 * half(bytes) / 16 / 256;
    }

    /** Half of about {@code bytes}: rounded down to whole 4 KiB, at least 4 KiB. */
    private static long half(long bytes) {
        return Math.max(4096, bytes / 2 / 4096 * 4096);
    }

    private ColdCopies(Device device, long half, long coldBytes, boolean readOnly) {
        this(device, half, coldBytes, readOnly, null, false);
    }

    private ColdCopies(Device device, long half, long coldBytes, boolean readOnly, DeviceBuffer trace, boolean ptx) {
        this.half = half;
        this.readOnly = readOnly;
        int pairs = (int) Math.max(1, coldBytes / (2 * half));
        this.program = trace == null ? device.build("copy", ClPrograms.resource("bitlinear/copy_f32x4.cl"), "")
                : device.build("copy traced", ClPrograms.resource("opencl/clocks.cl") + "#define GEMV_TRACE 1\n" + ClPrograms.resource("opencl/trace.cl")
                        + ClPrograms.resource("bitlinear/copy_f32x4.cl"), ptx ? "-DMMFREE_PTX=1" : "");
        try {
            DeviceBuffer sink = null;
            if (readOnly) {
                sink = device.allocate(MemoryCategory.WORKSPACE, 4, "read sink");
                buffers.add(sink);
            }
            for (int c = 0; c < pairs; c++) {
                DeviceBuffer a = device.allocate(MemoryCategory.WORKSPACE, readOnly ? 2 * half : half, readOnly ? "read a" : "copy a");
                buffers.add(a);
                device.fill(a, 0x3f800000);
                if (readOnly) {
                    var k = trace == null ? program.kernel("read_f32x4").args(a, sink) : program.kernel("read_f32x4_traced").args(a, sink, trace);
                    launches.add(new Launch(k, new long[]{2 * half / 16}, new long[]{256}));
                    continue;
                }
                DeviceBuffer b = device.allocate(MemoryCategory.WORKSPACE, half, "copy b");
                buffers.add(b);
                launches.add(new Launch(program.kernel("copy_f32x4").args(a, b), new long[]{half / 16}, new long[]{256}));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** One copy a buffer pair, to be launched in turn. */
    public List<Launch> launches() {
        return launches;
    }

    /** Bytes one launch moves: read plus written for a copy, read for {@link #reads}. */
    public long bytes() {
        return 2 * half;
    }

    /** A label such as "384 KiB x10". */
    public String label() {
        return (2 * half >> 10) + " KiB" + (readOnly ? " read" : "") + " x" + launches.size();
    }

    @Override
    public void close() {
        launches.forEach(Launch::close);
        buffers.forEach(DeviceBuffer::close);
        program.close();
    }
}
