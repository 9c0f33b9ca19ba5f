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
 */
public final class ColdCopies implements AutoCloseable {
    private final DeviceProgram program;
    private final List<DeviceBuffer> buffers = new ArrayList<>();
    private final List<Launch> launches = new ArrayList<>();
    private final long half;

    /** Copies of about {@code bytes} each (rounded down to whole 4 KiB halves, at least one). */
    public ColdCopies(Device device, long bytes, long coldBytes) {
        this.half = Math.max(4096, bytes / 2 / 4096 * 4096);
        int pairs = (int) Math.max(1, coldBytes / (2 * half));
        this.program = device.build("copy", ClPrograms.resource("bitlinear/copy_f32x4.cl"), "");
        try {
            for (int c = 0; c < pairs; c++) {
                DeviceBuffer a = device.allocate(MemoryCategory.WORKSPACE, half, "copy a");
                buffers.add(a);
                DeviceBuffer b = device.allocate(MemoryCategory.WORKSPACE, half, "copy b");
                buffers.add(b);
                device.fill(a, 0x3f800000);
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

    /** Bytes one copy moves: read plus written. */
    public long bytes() {
        return 2 * half;
    }

    /** A label such as "384 KiB x10". */
    public String label() {
        return (2 * half >> 10) + " KiB x" + launches.size();
    }

    @Override
    public void close() {
        launches.forEach(Launch::close);
        buffers.forEach(DeviceBuffer::close);
        program.close();
    }
}
