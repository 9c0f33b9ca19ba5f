package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.HostBuffer;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MemoryLedger;
import org.jocl.CL;
import org.jocl.CLException;
import org.jocl.Pointer;
import org.jocl.cl_buffer_region;
import org.jocl.cl_command_queue;
import org.jocl.cl_context;
import org.jocl.cl_device_id;
import org.jocl.cl_event;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;
import org.jocl.cl_program;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** One OpenCL device with its own context and in-order queue. Open it through {@link OpenCl#open}. */
public final class OpenClDevice implements Device {
    private final OpenCl.Candidate candidate;
    private final cl_device_id device;
    private final cl_context context;
    private final cl_command_queue queue;
    private final boolean profiling;
    private final DeviceInfo info;
    private final MemoryLedger ledger = new MemoryLedger();
    private final ProgramCache cache;
    private final Set<AutoCloseable> open = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean closed;

    OpenClDevice(OpenCl.Candidate candidate, boolean profiling) {
        this.candidate = candidate;
        this.device = candidate.device();
        this.profiling = profiling;
        this.cache = ProgramCache.forPlatform(candidate.platformName());
        this.info = new DeviceInfo(candidate.name(), OpenCl.deviceString(device, CL.CL_DEVICE_VENDOR),
                OpenCl.deviceString(device, CL.CL_DRIVER_VERSION), candidate.gpu(),
                OpenCl.deviceInt(device, CL.CL_DEVICE_MAX_COMPUTE_UNITS),
                OpenCl.deviceSizeT(device, CL.CL_DEVICE_MAX_WORK_GROUP_SIZE),
                OpenCl.deviceLong(device, CL.CL_DEVICE_LOCAL_MEM_SIZE),
                OpenCl.deviceLong(device, CL.CL_DEVICE_GLOBAL_MEM_SIZE),
                OpenCl.deviceLong(device, CL.CL_DEVICE_MAX_MEM_ALLOC_SIZE),
                OpenCl.deviceString(device, CL.CL_DEVICE_EXTENSIONS).contains("cl_khr_fp64"),
                OpenCl.deviceInt(device, CL.CL_DEVICE_MEM_BASE_ADDR_ALIGN) / 8);
        this.context = Cl.call("clCreateContext", info.name(),
                () -> CL.clCreateContext(null, 1, new cl_device_id[]{device}, null, null, null));
        this.queue = Cl.call("clCreateCommandQueue", info.name(),
                () -> CL.clCreateCommandQueue(context, device, profiling ? CL.CL_QUEUE_PROFILING_ENABLE : 0, null));
    }

    @Override
    public DeviceInfo info() {
        return info;
    }

    @Override
    public MemoryLedger memory() {
        return ledger;
    }

    /** The OpenCL extensions string of the device. */
    public String extensions() {
        return OpenCl.deviceString(device, CL.CL_DEVICE_EXTENSIONS);
    }

    @Override
    public DeviceBuffer allocate(MemoryCategory category, long bytes, String role) {
        checkOpen();
        if (bytes <= 0) {
            throw new DeviceException("allocate " + role + ": size must be positive, got " + bytes);
        }
        if (bytes > info.maxAllocBytes()) {
            throw new DeviceException("allocate " + role + ": " + bytes + " bytes > device max single allocation "
                    + info.maxAllocBytes());
        }
        cl_mem mem = Cl.call("clCreateBuffer", role + ", " + bytes + " bytes",
                () -> CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE, bytes, null, null));
        OpenClBuffer b = new OpenClBuffer(this, mem, bytes, category, role);
        ledger.allocated(category, bytes);
        open.add(b);
        return b;
    }

    @Override
    public DeviceBuffer slice(DeviceBuffer parent, long offsetBytes, long bytes, String role) {
        checkOpen();
        OpenClBuffer p = own(parent);
        String what = "slice " + role + " of " + p + " at " + offsetBytes + ", " + bytes + " bytes";
        if (offsetBytes < 0 || bytes <= 0 || offsetBytes + bytes > p.bytes()) {
            throw new DeviceException(what + ": out of bounds");
        }
        if (offsetBytes % info.baseAlignBytes() != 0) {
            throw new DeviceException(what + ": the offset is not a multiple of the device's base alignment, "
                    + info.baseAlignBytes() + " bytes");
        }
        cl_buffer_region region = new cl_buffer_region(offsetBytes, bytes);
        cl_mem mem = Cl.call("clCreateSubBuffer", what,
                () -> CL.clCreateSubBuffer(p.mem, CL.CL_MEM_READ_WRITE, CL.CL_BUFFER_CREATE_TYPE_REGION, region, null));
        OpenClBuffer b = new OpenClBuffer(this, mem, bytes, p.category(), role, false);
        open.add(b);
        return b;
    }

    /** Env: more OpenCL build options for every program (e.g. NVIDIA's {@code -cl-nv-verbose}). */
    public static final String EXTRA_OPTIONS_ENV = "MMFREE_OPENCL_BUILD_OPTIONS";
    /** Env: {@code 1} prints each freshly built program's build log to stderr (register use, spills). */
    public static final String BUILD_LOG_ENV = "MMFREE_OPENCL_BUILD_LOG";

    @Override
    public DeviceProgram build(String label, String source, String options) {
        checkOpen();
        String extra = System.getenv(EXTRA_OPTIONS_ENV);
        String opts = (options == null ? "" : options) + (extra == null || extra.isBlank() ? "" : " " + extra.trim());
        String key = ProgramCache.key(source, opts, info.name(), info.driverVersion());
        Optional<byte[]> cached = cache.load(key);
        if (cached.isPresent()) {
            try {
                cl_program p = CL.clCreateProgramWithBinary(context, 1, new cl_device_id[]{device},
                        new long[]{cached.get().length}, new byte[][]{cached.get()}, null, null);
                CL.clBuildProgram(p, 1, new cl_device_id[]{device}, opts, null, null);
                return track(new OpenClProgram(this, p, label, true));
            } catch (CLException e) {
                cache.evict(key);
            }
        }
        cl_program p = Cl.call("clCreateProgramWithSource", label,
                () -> CL.clCreateProgramWithSource(context, 1, new String[]{source}, null, null));
        try {
            CL.clBuildProgram(p, 1, new cl_device_id[]{device}, opts, null, null);
        } catch (CLException e) {
            String log = buildLog(p);
            CL.clReleaseProgram(p);
            throw new DeviceException("OpenCL build of " + label + " failed on " + info.name() + " with "
                    + ClException.statusName(e.getStatus()) + ", options '" + opts + "':\n" + log, e);
        }
        if ("1".equals(System.getenv(BUILD_LOG_ENV))) {
            System.err.println("# OpenCL build log of " + label + " (" + opts + "):\n" + buildLog(p));
        }
        if (cache.enabled()) {
            cache.store(key, binary(p));   // only then: on PoCL, asking for the binary compiles every kernel again
        }
        return track(new OpenClProgram(this, p, label, false));
    }

    private OpenClProgram track(OpenClProgram p) {
        open.add(p);
        return p;
    }

    private String buildLog(cl_program p) {
        try {
            long[] size = new long[1];
            CL.clGetProgramBuildInfo(p, device, CL.CL_PROGRAM_BUILD_LOG, 0, null, size);
            byte[] b = new byte[(int) size[0]];
            CL.clGetProgramBuildInfo(p, device, CL.CL_PROGRAM_BUILD_LOG, b.length, Pointer.to(b), null);
            return new String(b, StandardCharsets.UTF_8).trim();
        } catch (CLException e) {
            return "(no build log: " + ClException.statusName(e.getStatus()) + ")";
        }
    }

    private byte[] binary(cl_program p) {
        try {
            long[] size = new long[1];
            CL.clGetProgramInfo(p, CL.CL_PROGRAM_BINARY_SIZES, org.jocl.Sizeof.size_t, Pointer.to(size), null);
            byte[] b = new byte[(int) size[0]];
            CL.clGetProgramInfo(p, CL.CL_PROGRAM_BINARIES, org.jocl.Sizeof.POINTER, Pointer.to(Pointer.to(b)), null);
            return b;
        } catch (CLException e) {
            return new byte[0];
        }
    }

    DeviceKernel createKernel(OpenClProgram program, String name) {
        checkOpen();
        cl_kernel k = Cl.call("clCreateKernel", program.label() + ": " + name,
                () -> CL.clCreateKernel(program.program, name, null));
        OpenClKernel kernel = new OpenClKernel(this, k, name);
        open.add(kernel);
        return kernel;
    }

    @Override
    public void launch(DeviceKernel kernel, long[] global, long[] local) {
        enqueue(kernel, global, local, null);
    }

    @Override
    public boolean profiling() {
        return profiling;
    }

    @Override
    public DeviceEvent launchTimed(DeviceKernel kernel, long[] global, long[] local) {
        if (!profiling) {
            throw new DeviceException("launchTimed " + kernel.name() + ": device " + info.name() + " was opened without profiling");
        }
        cl_event e = new cl_event();
        enqueue(kernel, global, local, e);
        return new OpenClEvent(e, kernel.name());
    }

    private void enqueue(DeviceKernel kernel, long[] global, long[] local, cl_event event) {
        checkOpen();
        OpenClKernel k = (OpenClKernel) kernel;
        if (local != null && local.length != global.length) {
            throw new DeviceException(kernel.name() + ": global " + Arrays.toString(global) + " and local "
                    + Arrays.toString(local) + " differ in dimensions");
        }
        try {
            CL.clEnqueueNDRangeKernel(queue, k.kernel, global.length, null, global, local, 0, null, event);
        } catch (CLException e) {
            throw new ClException("clEnqueueNDRangeKernel", e.getStatus(), kernel.name() + ", global "
                    + Arrays.toString(global) + ", local " + (local == null ? "auto" : Arrays.toString(local)), e);
        }
    }

    @Override
    public void write(DeviceBuffer dst, long offsetBytes, float[] src, int from, int count) {
        transfer(dst, offsetBytes, 4L * count, Pointer.to(src).withByteOffset(4L * from), true);
    }

    @Override
    public void write(DeviceBuffer dst, long offsetBytes, int[] src, int from, int count) {
        transfer(dst, offsetBytes, 4L * count, Pointer.to(src).withByteOffset(4L * from), true);
    }

    @Override
    public void write(DeviceBuffer dst, long offsetBytes, byte[] src, int from, int count) {
        transfer(dst, offsetBytes, count, Pointer.to(src).withByteOffset(from), true);
    }

    @Override
    public void read(DeviceBuffer src, long offsetBytes, float[] dst, int from, int count) {
        transfer(src, offsetBytes, 4L * count, Pointer.to(dst).withByteOffset(4L * from), false);
    }

    @Override
    public void read(DeviceBuffer src, long offsetBytes, int[] dst, int from, int count) {
        transfer(src, offsetBytes, 4L * count, Pointer.to(dst).withByteOffset(4L * from), false);
    }

    @Override
    public void read(DeviceBuffer src, long offsetBytes, byte[] dst, int from, int count) {
        transfer(src, offsetBytes, count, Pointer.to(dst).withByteOffset(from), false);
    }

    private void transfer(DeviceBuffer buffer, long offset, long bytes, Pointer host, boolean write) {
        checkOpen();
        OpenClBuffer b = own(buffer);
        String what = (write ? "write " : "read ") + bytes + " bytes at " + offset + " of " + b;
        if (offset < 0 || bytes < 0 || offset + bytes > b.bytes()) {
            throw new DeviceException(what + ": out of bounds");
        }
        if (bytes == 0) {
            return;
        }
        if (write) {
            Cl.run("clEnqueueWriteBuffer", what, () -> CL.clEnqueueWriteBuffer(queue, b.mem, true, offset, bytes, host, 0, null, null));
        } else {
            Cl.run("clEnqueueReadBuffer", what, () -> CL.clEnqueueReadBuffer(queue, b.mem, true, offset, bytes, host, 0, null, null));
        }
    }

    @Override
    public DeviceEvent readAsync(DeviceBuffer src, long offsetBytes, ByteBuffer dst) {
        return transferAsync(src, offsetBytes, dst, false);
    }

    @Override
    public DeviceEvent writeAsync(DeviceBuffer dst, long offsetBytes, ByteBuffer src) {
        return transferAsync(dst, offsetBytes, src, true);
    }

    private DeviceEvent transferAsync(DeviceBuffer buffer, long offset, ByteBuffer host, boolean write) {
        checkOpen();
        OpenClBuffer b = own(buffer);
        long bytes = host.remaining();
        String what = (write ? "async write " : "async read ") + bytes + " bytes at " + offset + " of " + b;
        if (!host.isDirect()) {
            throw new DeviceException(what + ": the host buffer is not direct");
        }
        if (!write && host.isReadOnly()) {
            throw new DeviceException(what + ": the host buffer is read-only");
        }
        if (offset < 0 || offset + bytes > b.bytes()) {
            throw new DeviceException(what + ": out of bounds");
        }
        Pointer p = Pointer.to(host.slice());   // a slice starts at host's position, however JOCL reads positions
        cl_event e = new cl_event();
        if (write) {
            Cl.run("clEnqueueWriteBuffer", what, () -> CL.clEnqueueWriteBuffer(queue, b.mem, false, offset, bytes, p, 0, null, e));
        } else {
            Cl.run("clEnqueueReadBuffer", what, () -> CL.clEnqueueReadBuffer(queue, b.mem, false, offset, bytes, p, 0, null, e));
        }
        return new OpenClEvent(e, what);
    }

    @Override
    public HostBuffer allocateHost(long bytes, String role) {
        checkOpen();
        if (bytes <= 0 || bytes > Integer.MAX_VALUE) {
            throw new DeviceException("allocateHost " + role + ": size must be in [1, 2^31), got " + bytes);
        }
        cl_mem mem = Cl.call("clCreateBuffer", role + ", " + bytes + " bytes of pinned host memory",
                () -> CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE | CL.CL_MEM_ALLOC_HOST_PTR, bytes, null, null));
        ByteBuffer mapped;
        try {
            mapped = Cl.call("clEnqueueMapBuffer", role, () -> CL.clEnqueueMapBuffer(queue, mem, true,
                    CL.CL_MAP_READ | CL.CL_MAP_WRITE, 0, bytes, 0, null, null, null));
        } catch (RuntimeException e) {
            CL.clReleaseMemObject(mem);
            throw e;
        }
        OpenClHostBuffer h = new OpenClHostBuffer(mem, mapped.order(ByteOrder.nativeOrder()), role);
        open.add(h);
        return h;
    }

    /** A mapped CL_MEM_ALLOC_HOST_PTR buffer: pinned host memory on NVIDIA's and most other drivers. */
    private final class OpenClHostBuffer implements HostBuffer {
        private final cl_mem mem;
        private final ByteBuffer mapped;
        private final String role;
        private boolean closed;

        OpenClHostBuffer(cl_mem mem, ByteBuffer mapped, String role) {
            this.mem = mem;
            this.mapped = mapped;
            this.role = role;
        }

        @Override
        public ByteBuffer bytes() {
            if (closed) {
                throw new DeviceException("host buffer " + role + " is closed");
            }
            return mapped.duplicate().order(ByteOrder.nativeOrder()).clear();
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            open.remove(this);
            Cl.run("clEnqueueUnmapMemObject", role, () -> CL.clEnqueueUnmapMemObject(queue, mem, mapped, 0, null, null));
            Cl.run("clFinish", role, () -> CL.clFinish(queue));
            Cl.run("clReleaseMemObject", role, () -> CL.clReleaseMemObject(mem));
        }

        @Override
        public String toString() {
            return "pinned host buffer " + role + " (" + mapped.capacity() + " bytes)";
        }
    }

    @Override
    public void flush() {
        checkOpen();
        Cl.run("clFlush", info.name(), () -> CL.clFlush(queue));
    }

    @Override
    public void fill(DeviceBuffer dst, int pattern) {
        checkOpen();
        OpenClBuffer b = own(dst);
        long bytes = b.bytes() & ~3L;
        Cl.run("clEnqueueFillBuffer", b + " with 0x" + Integer.toHexString(pattern),
                () -> CL.clEnqueueFillBuffer(queue, b.mem, Pointer.to(new int[]{pattern}), 4, 0, bytes, 0, null, null));
    }

    @Override
    public void synchronize() {
        checkOpen();
        Cl.run("clFinish", info.name(), () -> CL.clFinish(queue));
    }

    private OpenClBuffer own(DeviceBuffer buffer) {
        if (!(buffer instanceof OpenClBuffer b) || b.owner() != this) {
            throw new DeviceException("buffer " + buffer + " does not belong to " + info.name());
        }
        if (b.isClosed()) {
            throw new DeviceException("buffer " + buffer + " is closed");
        }
        return b;
    }

    void released(AutoCloseable resource) {
        open.remove(resource);
        if (resource instanceof OpenClBuffer b && b.counted()) {
            ledger.released(b.category(), b.bytes());
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new DeviceException("device " + info.name() + " is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            CL.clFinish(queue);
        } catch (CLException e) {
            // closing anyway: the resources below are released regardless
        }
        List<AutoCloseable> left = new ArrayList<>(open);
        for (AutoCloseable r : left.reversed()) {
            try {
                r.close();
            } catch (Exception e) {
                // keep releasing the rest
            }
        }
        closed = true;
        CL.clReleaseCommandQueue(queue);
        CL.clReleaseContext(context);
    }

    @Override
    public String toString() {
        return "OpenClDevice[" + candidate + "]";
    }
}
